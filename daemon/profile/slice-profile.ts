import type { SymbolizedProfile } from './symbolized-profile.js';

/**
 * The part of a profile whose samples fall in [fromNs, toNs) — nanoseconds since the profile's
 * start, like `samples.timeNs`. Frames and stacks are shared with the original (unused ones stay),
 * so slicing costs one pass over the samples; an incident symbolizes its window once and cuts the
 * baseline and the trigger window out of it.
 */
export function sliceProfile(profile: SymbolizedProfile, fromNs: number, toNs: number): SymbolizedProfile {
  const { stack, timeNs } = profile.samples;
  let first = 0;
  while (first < timeNs.length && timeNs[first] < fromNs) first++;
  let end = first;
  while (end < timeNs.length && timeNs[end] < toNs) end++;
  const start = Math.max(0, fromNs);
  return {
    ...profile,
    startTimeMs: profile.startTimeMs + start / 1e6,
    durationNs: Math.max(0, Math.min(toNs, profile.durationNs) - start),
    samples: {
      stack: stack.slice(first, end),
      timeNs: timeNs.slice(first, end).map((t) => t - start),
      weight: profile.samples.weight?.slice(first, end),
    },
  };
}
