/**
 * speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json). Unlike a
 * flamegraph it keeps the samples in time order, so speedscope's "Time Order" view shows how
 * each process's behaviour changed over the recorded window.
 */
import { PROFILE_KINDS } from '../model/profile-kind.js';
import { countSamplesPerStack, type Frame, type SymbolizedProfile } from '../profile/symbolized-profile.js';

/** The `$schema` value speedscope recognises its files by. */
export const SPEEDSCOPE_SCHEMA_URL = 'https://www.speedscope.app/file-format-schema.json';

/** Processes beyond this many (by sample count) share one "other processes" profile. */
const MAX_PROCESS_PROFILES = 50;

/** A frame in `shared.frames`; samples refer to frames by their index there. */
export interface SpeedscopeFrame {
  name: string;
  file?: string;
  line?: number;
}

/** A `type: "sampled"` profile: one stack (root first) and one weight per sample, in time order. */
export interface SpeedscopeSampledProfile {
  type: 'sampled';
  name: string;
  /** What `weights` count: CPU and off-CPU time in ns, bytes for memory profiles, `none` for counts. */
  unit: SpeedscopeUnit;
  /** Time of the profile's first sample, in ns since the recording started. */
  startValue: number;
  /** `startValue` plus the sum of `weights`: speedscope takes `endValue - startValue` as the total weight. */
  endValue: number;
  samples: number[][];
  /** What each sample stands for in `unit`: for CPU, the CPU time of one period (`periodNs`). */
  weights: number[];
}

/** The units speedscope's file format knows that tail2's profile kinds use. */
export type SpeedscopeUnit = 'nanoseconds' | 'bytes' | 'none';

/** Speedscope's unit for a weight unit, and what one sample weighing `w` is in it. */
function speedscopeWeight(profile: SymbolizedProfile): { unit: SpeedscopeUnit; weightOf: (i: number) => number } {
  const unit = PROFILE_KINDS[profile.kind].unit;
  const weight = profile.samples.weight;
  const of = (i: number): number => (weight ? weight[i] : 1);
  switch (unit) {
    case 'samples':
      return { unit: 'nanoseconds', weightOf: (i) => of(i) * profile.periodNs };
    case 'nanoseconds':
      return { unit: 'nanoseconds', weightOf: of };
    case 'bytes':
      return { unit: 'bytes', weightOf: of };
    case 'events':
    case 'calls':
      return { unit: 'none', weightOf: of };
  }
}

/** A whole speedscope file, ready for `JSON.stringify`. */
export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA_URL;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampledProfile[];
  name: string;
  activeProfileIndex: number;
  exporter: 'tail2';
}

/**
 * Renders a profile as a speedscope file with one sampled profile per process.
 *
 * Profiles are ordered by sample count, busiest first (ties by pid), and the busiest is the one
 * speedscope opens. Only the top 50 processes get their own profile; the rest are merged into
 * one "other processes" profile whose stacks start with a `comm (pid N)` frame so that
 * unrelated programs do not merge. Kernel frames are suffixed ` [k]`. Frames that look the same
 * in speedscope (name, file, line) share one `shared.frames` entry.
 *
 * @param name - file name shown by speedscope; defaults to the profile's title, then "tail2 profile".
 */
export function renderSpeedscope(profile: SymbolizedProfile, name?: string): SpeedscopeFile {
  const { samples } = profile;
  const { unit, weightOf } = speedscopeWeight(profile);

  const processes = summarizeProcesses(profile);
  const pidsByLoad = [...processes.keys()].sort(
    (a, b) => (processes.get(b)?.samples ?? 0) - (processes.get(a)?.samples ?? 0) || a - b,
  );
  const topPids = pidsByLoad.slice(0, MAX_PROCESS_PROFILES);
  const otherIndex = topPids.length;
  const profileIndexOfPid = new Map(topPids.map((pid, index) => [pid, index]));

  const frames = new SharedFrames();
  const builders: ProfileBuilder[] = topPids.map((pid) => ({
    name: `${processes.get(pid)?.comm || '[unknown]'} (pid ${pid})`,
    samples: [],
    weights: [],
    startValue: 0,
  }));
  if (pidsByLoad.length > topPids.length) {
    builders.push({ name: `other processes (${pidsByLoad.length - topPids.length})`, samples: [], weights: [], startValue: 0 });
  }

  // A stack always lands in the same profile, so its speedscope stack is built once and shared.
  const speedscopeStacks = new Map<number, number[]>();
  for (let i = 0; i < samples.stack.length; i++) {
    const stackIndex = samples.stack[i] ?? 0;
    const stack = stackAt(profile, stackIndex);
    const profileIndex = profileIndexOfPid.get(stack.pid) ?? otherIndex;
    let speedscopeStack = speedscopeStacks.get(stackIndex);
    if (!speedscopeStack) {
      speedscopeStack = stack.frames.map((frameIndex) => frames.indexOf(frameAt(profile, frameIndex)));
      if (profileIndex === otherIndex) speedscopeStack.unshift(frames.indexOf({ name: `${stack.comm} (pid ${stack.pid})` }));
      speedscopeStacks.set(stackIndex, speedscopeStack);
    }
    const builder = builders[profileIndex];
    if (!builder) continue;
    // Sample times are non-decreasing, so appending keeps every profile in time order.
    if (builder.samples.length === 0) builder.startValue = samples.timeNs[i] ?? 0;
    builder.samples.push(speedscopeStack);
    builder.weights.push(weightOf(i));
  }

  return {
    $schema: SPEEDSCOPE_SCHEMA_URL,
    shared: { frames: frames.list },
    profiles: builders.map((b) => ({
      type: 'sampled',
      name: b.name,
      unit,
      startValue: b.startValue,
      endValue: b.startValue + b.weights.reduce((sum, w) => sum + w, 0),
      samples: b.samples,
      weights: b.weights,
    })),
    name: name ?? profile.title ?? 'tail2 profile',
    activeProfileIndex: 0,
    exporter: 'tail2',
  };
}

interface ProfileBuilder {
  name: string;
  samples: number[][];
  weights: number[];
  startValue: number;
}

/** Deduplicates `shared.frames` by what speedscope shows of a frame. */
class SharedFrames {
  readonly list: SpeedscopeFrame[] = [];
  private readonly indexes = new Map<string, number>();

  indexOf(frame: SpeedscopeFrame | Frame): number {
    const display: SpeedscopeFrame =
      'kind' in frame ? { name: frame.kind === 'kernel' ? `${frame.name} [k]` : frame.name } : { name: frame.name };
    if (frame.file !== undefined) display.file = frame.file;
    if (frame.line !== undefined) display.line = frame.line;
    const key = `${display.name}\0${display.file ?? ''}\0${display.line ?? ''}`;
    let index = this.indexes.get(key);
    if (index === undefined) {
      index = this.list.length;
      this.list.push(display);
      this.indexes.set(key, index);
    }
    return index;
  }
}

interface ProcessSummary {
  samples: number;
  /** The comm the process was sampled under most often: usually the thread doing its work. */
  comm: string;
}

/** Sample count and display comm per pid, from per-stack counts (stacks are far fewer than samples). */
function summarizeProcesses(profile: SymbolizedProfile): Map<number, ProcessSummary> {
  const counts = countSamplesPerStack(profile);
  const perComm = new Map<number, Map<string, number>>();
  const result = new Map<number, ProcessSummary>();
  profile.stacks.forEach((stack, stackIndex) => {
    const count = counts[stackIndex] ?? 0;
    if (count === 0) return;
    let comms = perComm.get(stack.pid);
    if (!comms) perComm.set(stack.pid, (comms = new Map()));
    comms.set(stack.comm, (comms.get(stack.comm) ?? 0) + count);
  });
  for (const [pid, comms] of perComm) {
    let total = 0;
    let best = '';
    let bestCount = -1;
    for (const [comm, count] of comms) {
      total += count;
      if (count > bestCount || (count === bestCount && comm < best)) [best, bestCount] = [comm, count];
    }
    result.set(pid, { samples: total, comm: best });
  }
  return result;
}

function stackAt(profile: SymbolizedProfile, index: number): SymbolizedProfile['stacks'][number] {
  const stack = profile.stacks[index];
  if (!stack) throw new RangeError(`sample refers to stack ${index}, but the profile has ${profile.stacks.length} stacks`);
  return stack;
}

function frameAt(profile: SymbolizedProfile, index: number): Frame {
  const frame = profile.frames[index];
  if (!frame) throw new RangeError(`stack refers to frame ${index}, but the profile has ${profile.frames.length} frames`);
  return frame;
}
