import type { Frame, Stack, SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { IncidentScope } from './incident-profiles.js';

/**
 * What a rule watched (`base`: the process, or a cgroup's processes) as profiles of its own: CPU
 * and each other kind with samples of it. Undefined when no kind has any: the host-wide pictures
 * are then the incident's.
 */
export function scopeOfPids(base: Omit<IncidentScope, 'profile' | 'others'>, profile: SymbolizedProfile, others: readonly SymbolizedProfile[]): IncidentScope | undefined {
  const scoped = profileOfPids(profile, base.pids);
  const scopedOthers = others.map((other) => profileOfPids(other, base.pids)).filter((other) => other.samples.stack.length > 0);
  if (scoped.samples.stack.length === 0 && scopedOthers.length === 0) return undefined;
  return { ...base, profile: scoped, others: scopedOthers };
}

/**
 * The part of a profile whose stacks belong to `pids`: what a rule scoped to a process, cgroup or
 * unit watched. Samples keep their times; stacks and frames no kept sample uses are dropped, so
 * nothing of another process (not even a function name) is left in what is rendered from it.
 */
export function profileOfPids(profile: SymbolizedProfile, pids: ReadonlySet<number>): SymbolizedProfile {
  const stackIndex = new Int32Array(profile.stacks.length).fill(-1);
  const frameIndex = new Int32Array(profile.frames.length).fill(-1);
  const stacks: Stack[] = [];
  const frames: Frame[] = [];
  profile.stacks.forEach((stack, s) => {
    if (!pids.has(stack.pid)) return;
    stackIndex[s] = stacks.length;
    stacks.push({
      ...stack,
      frames: stack.frames.map((f) => {
        if (frameIndex[f] < 0) {
          frameIndex[f] = frames.length;
          frames.push(profile.frames[f]);
        }
        return frameIndex[f];
      }),
    });
  });
  const { stack, timeNs, weight } = profile.samples;
  const kept: number[] = [];
  for (let i = 0; i < stack.length; i++) if (stackIndex[stack[i]] >= 0) kept.push(i);
  const samples: SymbolizedProfile['samples'] = {
    stack: Uint32Array.from(kept, (i) => stackIndex[stack[i]]),
    timeNs: Float64Array.from(kept, (i) => timeNs[i]),
  };
  if (weight) samples.weight = Float64Array.from(kept, (i) => weight[i]);
  return { ...profile, frames, stacks, samples };
}
