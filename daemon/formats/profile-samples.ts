import { gunzipSync, gzipSync } from 'node:zlib';
import { PROFILE_KINDS, type ProfileKindName } from '../model/profile-kind.js';
import type { Frame, SymbolizedProfile } from '../profile/symbolized-profile.js';

/** Format marker of samples.json.gz, bumped when the layout changes. */
const FORMAT = 'tail2-samples/1';

interface StoredProfile {
  format: typeof FORMAT;
  /** The profile kind (absent in files written before kinds existed: CPU). */
  kind?: ProfileKindName;
  /** The unit of the weights, for readers that do not know the kind. */
  unit?: string;
  startTimeMs: number;
  durationNs: number;
  periodNs: number;
  frequency: number;
  title?: string;
  frames: Array<Omit<Frame, 'address'> & { address?: string }>;
  stacks: SymbolizedProfile['stacks'];
  /** Per sample: index into `stacks`. */
  stack: number[];
  /** Per sample: ns since startTimeMs, delta-encoded (each value minus the previous) so it gzips small. */
  timeDeltaNs: number[];
  /** Per sample: its weight in `unit`; absent when every sample weighs 1 (CPU samples). */
  weight?: number[];
}

/**
 * An incident's samples as stored: the symbolized profile with every sample's time, gzipped JSON
 * (`samples.json.gz`). This is what a later view re-cuts by time range (the incident page's
 * heatmap); the other artifacts are renderings of it.
 */
export function encodeProfileSamples(profile: SymbolizedProfile): Buffer {
  const times = profile.samples.timeNs;
  const timeDeltaNs = new Array<number>(times.length);
  let previous = 0;
  for (let i = 0; i < times.length; i++) {
    timeDeltaNs[i] = Math.round(times[i] - previous);
    previous += timeDeltaNs[i];
  }
  const stored: StoredProfile = {
    format: FORMAT,
    kind: profile.kind,
    unit: PROFILE_KINDS[profile.kind].unit,
    startTimeMs: profile.startTimeMs,
    durationNs: profile.durationNs,
    periodNs: profile.periodNs,
    frequency: profile.frequency,
    title: profile.title,
    frames: profile.frames.map(({ address, ...frame }) => (address === undefined ? frame : { ...frame, address: address.toString(16) })),
    stacks: profile.stacks,
    stack: Array.from(profile.samples.stack),
    timeDeltaNs,
  };
  if (profile.samples.weight) stored.weight = Array.from(profile.samples.weight);
  return gzipSync(JSON.stringify(stored));
}

/** Reads samples.json.gz back; throws on a file of another format. */
export function decodeProfileSamples(bytes: Uint8Array): SymbolizedProfile {
  const stored = JSON.parse(gunzipSync(bytes).toString('utf8')) as StoredProfile;
  if (stored.format !== FORMAT) throw new Error(`not a ${FORMAT} file (format ${JSON.stringify(stored.format)})`);
  const timeNs = new Float64Array(stored.timeDeltaNs.length);
  let time = 0;
  for (let i = 0; i < timeNs.length; i++) timeNs[i] = time += stored.timeDeltaNs[i];
  const kind = stored.kind !== undefined && stored.kind in PROFILE_KINDS ? stored.kind : 'cpu';
  return {
    kind,
    startTimeMs: stored.startTimeMs,
    durationNs: stored.durationNs,
    periodNs: stored.periodNs,
    frequency: stored.frequency,
    title: stored.title,
    frames: stored.frames.map(({ address, ...frame }) => (address === undefined ? frame : { ...frame, address: BigInt('0x' + address) })),
    stacks: stored.stacks,
    samples: stored.weight ? { stack: Uint32Array.from(stored.stack), timeNs, weight: Float64Array.from(stored.weight) } : { stack: Uint32Array.from(stored.stack), timeNs },
  };
}
