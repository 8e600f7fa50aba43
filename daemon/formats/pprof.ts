/**
 * pprof (profile.proto) output, for `go tool pprof`, Pyroscope, Grafana and the many other
 * tools that read it. Encoding is done by the `pprof-format` package; this file only maps the
 * symbolized profile onto pprof's tables.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from 'pprof-format';
import { PROFILE_KINDS } from '../model/profile-kind.js';
import { countSamplesPerStack, weightPerStack, type Frame, type SymbolizedProfile } from '../profile/symbolized-profile.js';

const gzipAsync = promisify(gzip);

/** Mapping name for kernel frames that do not name their module, as perf names it. */
const KERNEL_MAPPING = '[kernel.kallsyms]';

/**
 * Encodes a profile as an uncompressed pprof protobuf.
 *
 * - Sample types from the profile's kind (daemon/model/profile-kind.ts): `samples/count`, then its
 *   weight — for CPU `cpu/nanoseconds` (count × `periodNs`, rounded), for page faults
 *   `page_faults/bytes` and so on; the period type is the weight's type (`period` = `periodNs` for
 *   CPU, 1 otherwise); `time_nanos` from `startTimeMs`, `duration_nanos`.
 * - One pprof Sample per unique (stack, pid, comm), labelled `pid` (number) and `comm` (string).
 *   Its `location_id` list is leaf first, as pprof requires.
 * - One Location per physical frame together with the frames inlined into it: an `inlined`
 *   frame was inlined into its caller, so it and any inlined frames after it (towards the leaf)
 *   become extra Lines of the nearest non-inlined frame towards the root, innermost first, with
 *   that frame's address.
 * - Functions deduplicated by (name, file); one Mapping per module path, kernel frames without a
 *   module in `[kernel.kallsyms]`. Mappings say `has_functions`, so pprof never tries to
 *   re-symbolize the file-relative addresses.
 * - Mapping 1 is the main binary, as pprof expects (`go tool pprof` names it in its `File:` line
 *   and treats it as the program): `options.mainBinary`, the executable of the profiled process.
 *   Without one — a profile of the whole host, whose processes run different programs — it is
 *   `[kernel.kallsyms]`: the kernel is the one program every process of the host runs on, while
 *   naming any one process's executable would present the host's profile as that process's.
 * - `options.comments` (e.g. how idle the CPUs were) follow the title in the profile's comments
 *   (`go tool pprof -comments`).
 *
 * @returns The protobuf bytes; see {@link encodePprofGzip} for the `.pb.gz` most tools expect.
 */
export function encodePprof(profile: SymbolizedProfile, options: PprofOptions = {}): Uint8Array {
  return new PprofBuilder(profile, options).build().encode();
}

/** {@link encodePprof}, gzip-compressed: the contents of a `.pb.gz` file. */
export async function encodePprofGzip(profile: SymbolizedProfile, options: PprofOptions = {}): Promise<Buffer> {
  return gzipAsync(encodePprof(profile, options));
}

export interface PprofOptions {
  /**
   * Path of the profiled program's executable (as its frames name their module): mapping 1.
   * @defaultValue `[kernel.kallsyms]`, for a profile of several programs
   */
  mainBinary?: string;
  /** More comment lines after the title. */
  comments?: readonly string[];
}

/** Interns pprof's tables (strings, functions, mappings, locations) while samples are added. */
class PprofBuilder {
  private readonly strings = new StringTable();
  private readonly functions: PprofFunction[] = [];
  private readonly functionIds = new Map<string, number>();
  private readonly mappings: Mapping[] = [];
  private readonly mappingIds = new Map<string, number>();
  private readonly locations: Location[] = [];
  private readonly locationIds = new Map<string, number>();

  constructor(
    private readonly profile: SymbolizedProfile,
    private readonly options: PprofOptions,
  ) {}

  build(): Profile {
    const { profile, strings } = this;
    // Before any location interns its mapping, so the main binary is mapping 1.
    this.mappingId(this.options.mainBinary ?? KERNEL_MAPPING, false);
    const counts = countSamplesPerStack(profile);
    const weights = weightPerStack(profile);
    // Stacks are unique per (frames, pid, comm) in a well-formed profile; merging by key anyway
    // keeps the output valid if two stack entries ever collapse onto the same locations.
    const samples = new Map<string, { locationIds: number[]; pid: number; comm: string; count: number; weight: number }>();
    profile.stacks.forEach((stack, stackIndex) => {
      const count = counts[stackIndex] ?? 0;
      if (count === 0) return;
      const weight = weights[stackIndex] ?? 0;
      const locationIds = this.stackLocations(stack.frames);
      const key = `${stack.pid}\0${stack.comm}\0${locationIds.join(',')}`;
      const existing = samples.get(key);
      if (existing) {
        existing.count += count;
        existing.weight += weight;
      } else {
        samples.set(key, { locationIds, pid: stack.pid, comm: stack.comm, count, weight });
      }
    });

    const pidKey = strings.dedup('pid');
    const commKey = strings.dedup('comm');
    // The kind's sample types: the count of samples, then what they weigh (CPU: count × period).
    const kind = PROFILE_KINDS[profile.kind];
    const sampleTypes = kind.pprof.map((t) => new ValueType({ type: strings.dedup(t.type), unit: strings.dedup(t.unit) }));
    const weightType = sampleTypes[sampleTypes.length - 1];
    const cpu = profile.kind === 'cpu';
    const valueOf = (s: { count: number; weight: number }): number => Math.round(cpu ? s.count * profile.periodNs : s.weight);
    const comments = [...(profile.title ? [profile.title] : []), ...(this.options.comments ?? [])].map((line) => strings.dedup(line));
    return new Profile({
      sampleType: sampleTypes,
      sample: [...samples.values()].map(
        (s) =>
          new Sample({
            locationId: s.locationIds,
            value: [s.count, valueOf(s)],
            label: [
              new Label({ key: pidKey, num: s.pid }),
              new Label({ key: commKey, str: strings.dedup(s.comm) }),
            ],
          }),
      ),
      mapping: this.mappings,
      location: this.locations,
      function: this.functions,
      stringTable: strings,
      timeNanos: epochMsToNanos(profile.startTimeMs),
      durationNanos: Math.round(profile.durationNs),
      periodType: weightType,
      period: cpu ? Math.round(profile.periodNs) : 1,
      comment: comments,
      defaultSampleType: weightType.type,
    });
  }

  /** Location ids of a root-first frame list, leaf first. */
  private stackLocations(frameIndexes: number[]): number[] {
    const ids: number[] = [];
    let i = 0;
    while (i < frameIndexes.length) {
      // A physical frame and the run of inlined frames after it share one machine address.
      let end = i + 1;
      while (end < frameIndexes.length && this.frame(frameIndexes[end]).inlined) end++;
      ids.push(this.locationId(frameIndexes.slice(i, end)));
      i = end;
    }
    return ids.reverse();
  }

  /** @param group - a physical frame followed by the frames inlined into it, root first. */
  private locationId(group: number[]): number {
    const key = group.join(',');
    let id = this.locationIds.get(key);
    if (id !== undefined) return id;
    id = this.locations.length + 1;
    const physical = this.frame(group[0]);
    const mappingName = physical.module ?? (physical.kind === 'kernel' ? KERNEL_MAPPING : undefined);
    const lines = group.map((frameIndex) => {
      const frame = this.frame(frameIndex);
      return new Line({ functionId: this.functionId(frame), line: frame.line ?? 0 });
    });
    this.locations.push(
      new Location({
        id,
        mappingId: mappingName === undefined ? 0 : this.mappingId(mappingName, group.length > 1),
        address: physical.address ?? 0n,
        // pprof lists the innermost inlined function first and the function owning the code last.
        line: lines.reverse(),
      }),
    );
    this.locationIds.set(key, id);
    return id;
  }

  private functionId(frame: Frame): number {
    const key = `${frame.name}\0${frame.file ?? ''}`;
    let id = this.functionIds.get(key);
    if (id === undefined) {
      id = this.functions.length + 1;
      const name = this.strings.dedup(frame.name);
      this.functions.push(
        new PprofFunction({ id, name, systemName: name, filename: this.strings.dedup(frame.file ?? '') }),
      );
      this.functionIds.set(key, id);
    }
    return id;
  }

  private mappingId(filename: string, hasInlineFrames: boolean): number {
    let id = this.mappingIds.get(filename);
    if (id === undefined) {
      id = this.mappings.length + 1;
      this.mappings.push(
        new Mapping({
          id,
          filename: this.strings.dedup(filename),
          hasFunctions: true,
          hasFilenames: true,
          hasLineNumbers: true,
        }),
      );
      this.mappingIds.set(filename, id);
    }
    const mapping = this.mappings[id - 1];
    if (mapping && hasInlineFrames) mapping.hasInlineFrames = true;
    return id;
  }

  private frame(index: number | undefined): Frame {
    const frame = index === undefined ? undefined : this.profile.frames[index];
    if (!frame) throw new RangeError(`stack refers to frame ${index}, but the profile has ${this.profile.frames.length} frames`);
    return frame;
  }
}

/** Milliseconds since the epoch as integer nanoseconds; split so no precision is lost above 2^53. */
function epochMsToNanos(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}
