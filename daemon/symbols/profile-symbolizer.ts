import { basename } from 'node:path';
import type { Frame, FrameKind, Stack, SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { SampleSource, StackTables } from '../profile/sample-source.js';
import type { ProcessEntry } from '../profile/process-table.js';
import { PROFILE_KINDS, type ProfileKindName } from '../model/profile-kind.js';
import { RecordFlags } from '../sampler/sample-record.js';
import { KernelSymbols } from './kallsyms.js';
import type { NativeSymbolFrame, ProcessFiles } from './process-files.js';
import { findMapping, type ExecutableMapping, type ProcessSnapshot } from './proc-maps.js';

export interface SymbolizeOptions {
  /** The profile kind to take from the samples (each kind is a profile of its own). @defaultValue 'cpu' */
  kind?: ProfileKindName;
  /** Sampling frequency the recording was made at (Hz). */
  frequency: number;
  /** Converts a sample's monotonic timestamp (ns) to wall-clock milliseconds. */
  monotonicToWallMs: (monotonicNs: number) => number;
  /** Keep only samples of processes this accepts (default: all). */
  includeProcess?: (process: ProcessEntry, snapshot: ProcessSnapshot | undefined) => boolean;
  /** Keep only samples in [fromNs, toNs) on the monotonic clock. */
  fromNs?: number;
  toNs?: number;
  title?: string;
}

/** A frame before interning: innermost first when it comes from a lookup. */
type FrameList = Frame[];

/** Where a stack the kernel could not read (bpf_get_stack failed) would have its frames. */
const UNREADABLE_USER: Frame = { name: '[user stack not readable]', kind: 'unknown' };
const UNREADABLE_KERNEL: Frame = { name: '[kernel stack not readable]', kind: 'kernel', module: '[kernel.kallsyms]' };
// Where a user stack's walk did not reach a root, its root says so: the callers below are missing.
const TRUNCATED_USER: Frame = { name: '[stack truncated: deeper than 255 frames]', kind: 'unknown' };
const STOPPED_USER: Frame = { name: '[stack incomplete: unwinding stopped]', kind: 'unknown' };

/** Distinct processes tried for opening one shared file, when the first has exited. */
const MAX_OPENERS = 3;

/** Resolves one process's user address when nothing better is known. */
function unknownFrame(mapping: ExecutableMapping | undefined, fileOffset: number): Frame {
  if (!mapping) return { name: '[unknown]', kind: 'unknown' };
  const module = mapping.path || '[anon]';
  return { name: `[${basename(module)}+0x${fileOffset.toString(16)}]`, kind: 'unknown', module };
}

interface ModuleWork {
  mapping: ExecutableMapping;
  /** Processes that map this file, in the order met: the first that can still open it does. */
  openers: ProcessSnapshot[];
  offsets: Map<number, Array<{ processId: number; address: bigint }>>;
}

interface JitWork {
  processId: number;
  snapshot: ProcessSnapshot;
  lookups: number[];
  addresses: bigint[];
}

/**
 * Turns a recording's raw stacks into a {@link SymbolizedProfile}: kernel frames from kallsyms, native
 * user frames (with inlined frames and file:line) and JIT frames from /tmp/perf-PID.map, both read
 * by tail2-reader through {@link ProcessFiles}. Only the stacks the selected samples use are
 * resolved; each module is resolved in one request for all its addresses.
 */
export class ProfileSymbolizer {
  private kernel: KernelSymbols | undefined;

  constructor(private readonly files: ProcessFiles) {}

  async symbolize(tables: StackTables, samples: SampleSource, options: SymbolizeOptions): Promise<SymbolizedProfile> {
    const { stacks, processes } = tables;
    const fromNs = options.fromNs ?? -Infinity;
    const toNs = options.toNs ?? Infinity;
    // Snapshots of the last processes met may still be on their way from the reader.
    await tables.snapshotsSettled();
    const include = options.includeProcess ?? (() => true);
    const accepted = new Map<number, boolean>();
    const processAccepted = (processId: number): boolean => {
      let verdict = accepted.get(processId);
      if (verdict === undefined) {
        const process = processes.get(processId);
        accepted.set(processId, (verdict = include(process, process.snapshot)));
      }
      return verdict;
    };

    // 1. Which samples and stacks are in: those of the kind asked for, of accepted processes.
    const kind = options.kind ?? 'cpu';
    const recordKind = PROFILE_KINDS[kind].record;
    const selectedTime: number[] = [];
    const selectedStack: number[] = [];
    const selectedWeight: number[] = [];
    let weighted = false;
    const usedStacks = new Map<number, number>(); // raw stack id -> profile stack index
    samples.forEachSample(fromNs, toNs, (time, stackId, _tid, weight) => {
      if (stacks.kindOf(stackId) !== recordKind || !processAccepted(stacks.processOf(stackId))) return;
      selectedTime.push(time);
      selectedStack.push(stackId);
      selectedWeight.push(weight);
      if (weight !== 1) weighted = true;
      if (!usedStacks.has(stackId)) usedStacks.set(stackId, usedStacks.size);
    });

    // 2. Resolve every distinct user address once, grouped by module.
    const userFrames = await this.resolveUserAddresses(tables, [...usedStacks.keys()]);
    this.kernel ??= KernelSymbols.load();

    // 3. Intern frames and build stacks root first.
    const frames: Frame[] = [];
    const frameIds = new Map<string, number>();
    const internFrame = (frame: Frame): number => {
      const key = `${frame.kind}|${frame.module ?? ''}|${frame.name}|${frame.file ?? ''}|${frame.line ?? ''}|${frame.inlined ? 1 : 0}`;
      let id = frameIds.get(key);
      if (id === undefined) {
        id = frames.length;
        frames.push(frame);
        frameIds.set(key, id);
      }
      return id;
    };
    const profileStacks: Stack[] = [];
    for (const [stackId] of usedStacks) {
      const process = processes.get(stacks.processOf(stackId));
      const kernelLen = stacks.kernelLength(stackId);
      const userLen = stacks.userLength(stackId);
      const rootFirst: number[] = [];
      // A stack the kernel could not read says so where its frames would be, rather than looking
      // like a process that runs without a caller.
      const flags = stacks.flagsOf(stackId);
      if (flags & RecordFlags.ustackError) rootFirst.push(internFrame(UNREADABLE_USER));
      else if (flags & RecordFlags.ustackTruncated) rootFirst.push(internFrame(TRUNCATED_USER));
      else if (flags & RecordFlags.ustackStopped) rootFirst.push(internFrame(STOPPED_USER));
      for (let i = userLen - 1; i >= 0; i--) {
        const resolved = userFrames.get(process.id)?.get(stacks.frame(stackId, kernelLen + i)) ?? [{ name: '[unknown]', kind: 'unknown' as FrameKind }];
        for (let j = resolved.length - 1; j >= 0; j--) rootFirst.push(internFrame(resolved[j]));
      }
      if (flags & RecordFlags.kstackError) rootFirst.push(internFrame(UNREADABLE_KERNEL));
      for (let i = kernelLen - 1; i >= 0; i--) rootFirst.push(internFrame(this.kernelFrame(stacks.frame(stackId, i), i > 0)));
      profileStacks.push({ frames: rootFirst, pid: process.pid, comm: tables.comms.name(stacks.commOf(stackId)) });
    }

    // 4. Samples, relative to the first selected one.
    const count = selectedTime.length;
    const stackColumn = new Uint32Array(count);
    const timeColumn = new Float64Array(count);
    const weightColumn = weighted ? Float64Array.from(selectedWeight) : undefined;
    const startNs = Number.isFinite(fromNs) ? fromNs : count > 0 ? selectedTime[0] : 0;
    for (let i = 0; i < count; i++) {
      stackColumn[i] = usedStacks.get(selectedStack[i]) ?? 0;
      timeColumn[i] = selectedTime[i] - startNs;
    }
    const lastNs = count > 0 ? selectedTime[count - 1] : startNs;
    const endNs = Number.isFinite(toNs) ? toNs : lastNs + 1e9 / options.frequency;
    return {
      kind,
      startTimeMs: options.monotonicToWallMs(startNs),
      durationNs: Math.max(0, endNs - startNs),
      periodNs: 1e9 / options.frequency,
      frequency: options.frequency,
      frames,
      stacks: profileStacks,
      samples: weightColumn ? { stack: stackColumn, timeNs: timeColumn, weight: weightColumn } : { stack: stackColumn, timeNs: timeColumn },
      title: options.title,
    };
  }

  private kernelFrame(address: bigint, isReturnAddress: boolean): Frame {
    const symbol = this.kernel?.resolve(isReturnAddress ? address - 1n : address);
    if (!symbol) return { name: '[kernel]', kind: 'kernel', module: '[kernel.kallsyms]', address };
    return { name: symbol.name, kind: 'kernel', module: symbol.module, address };
  }

  /**
   * For every process, address -> frames (innermost first). Return addresses (every frame but the
   * leaf) are looked up at address - 1 so the call instruction, not the next line, is reported.
   */
  private async resolveUserAddresses(tables: StackTables, stackIds: number[]): Promise<Map<number, Map<bigint, FrameList>>> {
    const { stacks, processes } = tables;
    // Every distinct user address of every process, with the address it is looked up at.
    const wanted = new Map<number, Map<bigint, number>>();
    for (const stackId of stackIds) {
      const processId = stacks.processOf(stackId);
      const kernelLen = stacks.kernelLength(stackId);
      const userLen = stacks.userLength(stackId);
      let byAddress = wanted.get(processId);
      if (!byAddress) wanted.set(processId, (byAddress = new Map()));
      for (let i = 0; i < userLen; i++) {
        const address = stacks.frame(stackId, kernelLen + i);
        if (!byAddress.has(address)) byAddress.set(address, Number(address) - (i > 0 ? 1 : 0));
      }
    }
    await this.refreshStaleSnapshots(tables, wanted);

    const result = new Map<number, Map<bigint, FrameList>>();
    const modules = new Map<string, ModuleWork>();
    const jit: JitWork[] = [];
    for (const [processId, byAddress] of wanted) {
      const snapshot = processes.get(processId).snapshot;
      const frames = new Map<bigint, FrameList>();
      result.set(processId, frames);
      const anonymous: JitWork | undefined = snapshot ? { processId, snapshot, lookups: [], addresses: [] } : undefined;
      for (const [address, lookup] of byAddress) {
        const mapping = snapshot ? findMapping(snapshot.mappings, lookup) : undefined;
        if (snapshot && mapping && mapping.cacheKey) {
          const fileOffset = lookup - mapping.start + mapping.offset;
          let work = modules.get(mapping.cacheKey);
          if (!work) modules.set(mapping.cacheKey, (work = { mapping, openers: [], offsets: new Map() }));
          if (work.openers.length < MAX_OPENERS && !work.openers.includes(snapshot)) work.openers.push(snapshot);
          let users = work.offsets.get(fileOffset);
          if (!users) work.offsets.set(fileOffset, (users = []));
          users.push({ processId, address });
          frames.set(address, [unknownFrame(mapping, fileOffset)]);
          continue;
        }
        if (mapping && mapping.path.startsWith('[')) {
          frames.set(address, [{ name: mapping.path, kind: 'native', module: mapping.path, address }]);
          continue;
        }
        // Anonymous executable memory (or no mapping at all): a JIT's perf map may name it.
        frames.set(address, [unknownFrame(mapping, lookup - (mapping?.start ?? 0) + (mapping?.offset ?? 0))]);
        if (anonymous) {
          anonymous.lookups.push(lookup);
          anonymous.addresses.push(address);
        }
      }
      if (anonymous && anonymous.lookups.length > 0) jit.push(anonymous);
    }

    await Promise.all([
      ...[...modules.values()].map((work) => this.resolveModule(work, result)),
      ...jit.map(async ({ processId, snapshot, lookups, addresses }) => {
        const names = await this.files.perfMapNames(snapshot, lookups);
        const frames = result.get(processId)!;
        names.forEach((name, i) => {
          if (name !== undefined) frames.set(addresses[i], [{ name, kind: 'jit', module: '[jit]', address: addresses[i] }]);
        });
      }),
    ]);
    return result;
  }

  /** Resolves one file's offsets through the first of its processes that can still open it. */
  private async resolveModule({ mapping, openers, offsets }: ModuleWork, result: Map<number, Map<bigint, FrameList>>): Promise<void> {
    const fileOffsets = [...offsets.keys()];
    let resolved: NativeSymbolFrame[][] | undefined;
    for (const opener of openers) {
      try {
        resolved = await this.files.symbolize(opener, mapping, fileOffsets);
        break;
      } catch (error) {
        // Exited (its root is gone) or replaced: another process mapping the file may do. Anything
        // else is about the file itself; the [module+0xoffset] frames already stand in.
        const code = (error as { code?: string }).code;
        if (code !== 'EGONE' && code !== 'EMISMATCH' && code !== 'ENOENT') return;
      }
    }
    if (!resolved) return;
    let index = 0;
    for (const [fileOffset, users] of offsets) {
      const native = resolved[index++] ?? [];
      if (native.length === 0) continue;
      const frames = native.map(
        (f): Frame => ({ name: f.name, kind: 'native', module: mapping.path, file: f.file, line: f.line, inlined: f.inlined, address: BigInt(fileOffset) }),
      );
      for (const { processId, address } of users) result.get(processId)?.set(address, frames);
    }
  }

  /**
   * A process with addresses in no mapping mapped more after its first sight (dlopen, a JIT
   * growing): read its maps again while it still runs, and keep the newer view if it is wider.
   */
  private async refreshStaleSnapshots(tables: StackTables, wanted: Map<number, Map<bigint, number>>): Promise<void> {
    const refreshes: Array<Promise<void>> = [];
    for (const [processId, byAddress] of wanted) {
      const process = tables.processes.get(processId);
      if (process.pid === 0) continue;
      const snapshot = process.snapshot;
      const stale = !snapshot || [...byAddress.values()].some((lookup) => !findMapping(snapshot.mappings, lookup));
      if (!stale) continue;
      refreshes.push(
        this.files.snapshot(process.pid, process.startTimeNs).then((fresh) => {
          if (fresh && (!snapshot || fresh.mappings.length >= snapshot.mappings.length)) tables.processes.setSnapshot(process, fresh);
        }),
      );
    }
    await Promise.all(refreshes);
  }
}
