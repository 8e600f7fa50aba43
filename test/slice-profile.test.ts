import { describe, expect, it } from 'vitest';
import { sliceProfile } from '../daemon/profile/slice-profile.js';
import { buildProfile } from './helpers/profile-fixture.js';

describe('sliceProfile', () => {
  // 100 samples of `old_hot` then 100 of `new_hot`, 1e9/99 ns apart.
  const profile = buildProfile([
    { frames: ['main', 'old_hot'], count: 100 },
    { frames: ['main', 'new_hot'], count: 100 },
  ]);
  const split = 100 * profile.periodNs;

  it('cuts the samples of a time range and rebases their times', () => {
    const before = sliceProfile(profile, 0, split);
    const after = sliceProfile(profile, split, Infinity);
    expect(before.samples.stack.length).toBe(100);
    expect(after.samples.stack.length).toBe(100);
    expect(new Set(before.samples.stack)).toEqual(new Set([0]));
    expect(new Set(after.samples.stack)).toEqual(new Set([1]));
    expect(after.samples.timeNs[0]).toBe(0);
    expect(after.startTimeMs).toBeCloseTo(profile.startTimeMs + split / 1e6, 6);
    expect(after.durationNs).toBeCloseTo(profile.durationNs - split, 3);
  });

  it('leaves the original untouched and shares its frames', () => {
    sliceProfile(profile, 10, 20);
    expect(profile.samples.stack.length).toBe(200);
    expect(sliceProfile(profile, 0, split).frames).toBe(profile.frames);
  });
});
