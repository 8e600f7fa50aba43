/**
 * The kinds of profile tail2 records. Every sample has a kind and a weight in that kind's unit: a
 * CPU sample stands for one sampling period of CPU time, a page-fault sample for the bytes it
 * made resident, an off-CPU sample for the nanoseconds a thread waited. The buffer, the capture,
 * the formats (pprof sample types, folded weights, speedscope units, flamegraph titles and
 * tooltips) and the summary all read the kind from here, so a new profile is a new producer and a
 * row below, not a new case in every stage.
 *
 * `record` is the `kind` the BPF side writes (bpf/sampler.h: 0 is a CPU sample, 1 the exec event,
 * 2 a page-fault sample; test/sample-record-layout.test.ts holds the two to each other).
 */

/** What a sample's weight counts. */
export type WeightUnit = 'samples' | 'bytes' | 'nanoseconds' | 'events' | 'calls';

export interface ProfileKind {
  name: ProfileKindName;
  /** The record kind the BPF side writes for it. */
  record: number;
  /** How a person calls it: "CPU", "Page faults". */
  title: string;
  /** What a sample's weight counts. For CPU: samples, each one period of CPU time. */
  unit: WeightUnit;
  /**
   * Not a record of its own: a view of another kind's samples (`inuse`: the sampled allocations
   * not freed yet, at the end of the window, daemon/profile/allocation-ledger.ts).
   */
  derived?: boolean;
  /** pprof's sample types for it: the count of samples first, then the weight when it is not the count. */
  pprof: ReadonlyArray<{ type: string; unit: string }>;
}

export const PROFILE_KIND_NAMES = ['cpu', 'page_faults', 'malloc', 'inuse', 'memcpy', 'offcpu', 'hardware', 'uprobe'] as const;
export type ProfileKindName = (typeof PROFILE_KIND_NAMES)[number];

/**
 * Every kind, with its record number. `cpu`, `page_faults`, `malloc` (with its view `inuse`) and
 * `memcpy` have producers today (bpf/sampler.bpf.c, bpf/allocations.h, bpf/copies.h,
 * docs/profiles.md); the others are the profiles the BPF side will write (off-CPU time, hardware
 * events, custom probes), reserved here so their numbers never change meaning.
 */
export const PROFILE_KINDS: Readonly<Record<ProfileKindName, ProfileKind>> = {
  cpu: { name: 'cpu', record: 0, title: 'CPU', unit: 'samples', pprof: [{ type: 'samples', unit: 'count' }, { type: 'cpu', unit: 'nanoseconds' }] },
  page_faults: { name: 'page_faults', record: 2, title: 'Page faults', unit: 'bytes', pprof: [{ type: 'samples', unit: 'count' }, { type: 'page_faults', unit: 'bytes' }] },
  malloc: { name: 'malloc', record: 3, title: 'Allocations', unit: 'bytes', pprof: [{ type: 'samples', unit: 'count' }, { type: 'alloc_space', unit: 'bytes' }] },
  inuse: {
    name: 'inuse',
    record: 3,
    derived: true,
    title: 'Outstanding allocations',
    unit: 'bytes',
    pprof: [{ type: 'samples', unit: 'count' }, { type: 'inuse_space', unit: 'bytes' }],
  },
  memcpy: { name: 'memcpy', record: 4, title: 'Copies', unit: 'bytes', pprof: [{ type: 'samples', unit: 'count' }, { type: 'copy_bytes', unit: 'bytes' }] },
  offcpu: { name: 'offcpu', record: 5, title: 'Off-CPU time', unit: 'nanoseconds', pprof: [{ type: 'samples', unit: 'count' }, { type: 'offcpu', unit: 'nanoseconds' }] },
  hardware: { name: 'hardware', record: 6, title: 'Hardware events', unit: 'events', pprof: [{ type: 'samples', unit: 'count' }, { type: 'events', unit: 'count' }] },
  uprobe: { name: 'uprobe', record: 7, title: 'Function calls', unit: 'calls', pprof: [{ type: 'samples', unit: 'count' }, { type: 'calls', unit: 'count' }] },
};

/**
 * The profiles that come from uprobes attached to chosen processes (docs/profiles.md): each is a
 * probe set per process, with its own overhead guard, in `tail2 probe` and /api/probes.
 */
export const PROBED_PROFILES = ['malloc', 'memcpy'] as const;
export type ProbedProfile = (typeof PROBED_PROFILES)[number];

const BY_RECORD = new Map<number, ProfileKind>(
  Object.values(PROFILE_KINDS)
    .filter((kind) => !kind.derived)
    .map((kind) => [kind.record, kind]),
);

/** The kind a record's `kind` field names; undefined for the exec event and numbers not known. */
export function kindOfRecord(record: number): ProfileKind | undefined {
  return BY_RECORD.get(record);
}

/** Record numbers fit in the stack table's byte for them. */
export const MAX_RECORD_KIND = 255;

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/**
 * A weight as a person reads it, in its unit: `1,234 samples`, `12.3 MiB`, `45.6 ms`. For CPU,
 * `periodNs` turns samples into time: `1,234 samples (12.34 s)`.
 */
export function formatWeight(value: number, unit: WeightUnit, periodNs?: number): string {
  switch (unit) {
    case 'samples': {
      const count = `${Math.round(value).toLocaleString('en-US')} sample${Math.round(value) === 1 ? '' : 's'}`;
      return periodNs ? `${count} (${formatNanoseconds(value * periodNs)})` : count;
    }
    case 'bytes': {
      let scaled = value;
      let at = 0;
      while (Math.abs(scaled) >= 1024 && at < IEC.length - 1) {
        scaled /= 1024;
        at++;
      }
      return at === 0 ? `${Math.round(scaled).toLocaleString('en-US')} B` : `${scaled.toFixed(scaled >= 100 ? 0 : 1)} ${IEC[at]}`;
    }
    case 'nanoseconds':
      return formatNanoseconds(value);
    case 'events':
      return `${Math.round(value).toLocaleString('en-US')} event${Math.round(value) === 1 ? '' : 's'}`;
    case 'calls':
      return `${Math.round(value).toLocaleString('en-US')} call${Math.round(value) === 1 ? '' : 's'}`;
  }
}

function formatNanoseconds(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(ns >= 1e11 ? 0 : 2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e5 ? 0 : 1)} µs`;
  return `${Math.round(ns)} ns`;
}
