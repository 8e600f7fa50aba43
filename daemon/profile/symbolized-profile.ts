/**
 * The symbolized profile: what every output format (folded stacks, pprof, speedscope, SVG
 * flamegraph) is written from. It is produced once per recording or incident, after the raw
 * samples have been interned and their addresses turned into names.
 *
 * Tables are deduplicated (frames, stacks) and samples refer to them by index, so a profile of
 * a million samples costs a few typed arrays, not a million objects.
 *
 * A profile is of one kind (CPU, page faults, off-CPU time…: daemon/model/profile-kind.ts); each
 * sample weighs something in that kind's unit. Renderers size boxes by weight, never by count.
 */
import type { ProfileKindName } from '../model/profile-kind.js';

/** Where a frame's code lives; drives flamegraph colours and the `_[k]` / `_[j]` folded suffixes. */
export type FrameKind = 'kernel' | 'native' | 'jit' | 'unknown';

/** One function activation, already symbolized. Inlined functions are frames of their own. */
export interface Frame {
  /** Function name, demangled; `[module+0xoffset]` or `[unknown]` when it could not be resolved. */
  name: string;
  kind: FrameKind;
  /** Path of the ELF file (or `[kernel.kallsyms]`, a kernel module name, `[jit]`) the code is in. */
  module?: string;
  /** Source file and line from DWARF, when present. */
  file?: string;
  line?: number;
  /** True when this frame was inlined into its caller (the next frame towards the root). */
  inlined?: boolean;
  /** The instruction address inside `module` (file-relative virtual address), for pprof locations. */
  address?: bigint;
}

/** A unique call stack of one process. */
export interface Stack {
  /** Indexes into {@link SymbolizedProfile.frames}, root (outermost caller) first, leaf last. */
  frames: number[];
  /** Process id in the host's pid namespace; 0 for the idle task. */
  pid: number;
  /** Thread name (`comm`) of the sampled thread, as `perf script` shows it. */
  comm: string;
}

export interface SymbolizedProfile {
  /** What the samples are of, and so what their weights count. */
  kind: ProfileKindName;
  /** Wall-clock time of the first instant covered, in milliseconds since the Unix epoch. */
  startTimeMs: number;
  /** Length of the covered window in nanoseconds. */
  durationNs: number;
  /** Sampling period in nanoseconds (1e9 / frequency): the CPU time one sample stands for. */
  periodNs: number;
  /** Sampling frequency in Hz. */
  frequency: number;
  frames: Frame[];
  stacks: Stack[];
  samples: {
    /** For each sample, an index into {@link SymbolizedProfile.stacks}. */
    stack: Uint32Array;
    /** For each sample, nanoseconds since `startTimeMs`; non-decreasing. */
    timeNs: Float64Array;
    /** For each sample, its weight in the kind's unit; absent when every sample weighs 1 (CPU). */
    weight?: Float64Array;
  };
  /** Free-form facts shown in titles and comments (host, command, rule …). */
  title?: string;
}

/** Total weight per stack index, in the profile kind's unit (for CPU: samples). */
export function weightPerStack(profile: SymbolizedProfile): Float64Array {
  const weights = new Float64Array(profile.stacks.length);
  const { stack, weight } = profile.samples;
  if (weight) for (let i = 0; i < stack.length; i++) weights[stack[i]] += weight[i];
  else for (const stackIndex of stack) weights[stackIndex]++;
  return weights;
}

/** Total weight of a profile's samples, in its kind's unit. */
export function totalWeight(profile: SymbolizedProfile): number {
  const { stack, weight } = profile.samples;
  if (!weight) return stack.length;
  let total = 0;
  for (const w of weight) total += w;
  return total;
}

/** Number of samples per stack index. */
export function countSamplesPerStack(profile: SymbolizedProfile): Uint32Array {
  const counts = new Uint32Array(profile.stacks.length);
  for (const stackIndex of profile.samples.stack) counts[stackIndex]++;
  return counts;
}
