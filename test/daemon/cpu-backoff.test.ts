import { describe, expect, it } from 'vitest';
import { CpuBackoff, MIN_FREQUENCY } from '../../daemon/tail2d/cpu-backoff.js';

describe('CpuBackoff', () => {
  it('halves the frequency after 10 s above the cap, down to the floor, and restores it after 10 calm minutes', () => {
    const backoff = new CpuBackoff(99, 0.05);
    let frequency = 99;
    const run = (share: number, seconds: number): string[] => {
      const changes: string[] = [];
      for (let i = 0; i < seconds; i++) {
        const decision = backoff.observe(share, frequency);
        if (decision.change !== 'none') {
          frequency = decision.frequency;
          changes.push(`${decision.change} ${frequency}`);
        }
      }
      return changes;
    };
    expect(run(0.04, 60)).toEqual([]); // under the cap: nothing
    expect(run(0.2, 7)).toEqual([]); // a burst (a capture symbolizing): nothing
    expect(run(0.04, 3)).toEqual([]);
    expect(run(0.2, 7)).toEqual([]); // 7 of the last 10 seconds: not yet
    expect(run(0.2, 1)).toEqual(['lower 49']);
    expect(run(0.2, 40)).toEqual(['lower 24', 'lower 12', `lower ${MIN_FREQUENCY}`]);
    expect(run(0.03, 700)).toEqual([]); // under the cap but not calm (a quarter of it): stays down
    expect(run(0.01, 600)).toEqual(['restore 18']);
    expect(run(0.01, 1800)).toEqual(['restore 36', 'restore 72', 'restore 99']);
  });

  it('says why in its reason', () => {
    const backoff = new CpuBackoff(99, 0.1);
    let decision = backoff.observe(0.5, 99);
    for (let i = 0; i < 9; i++) decision = backoff.observe(0.5, 99);
    expect(decision).toMatchObject({ change: 'lower', frequency: 49 });
    expect(decision.change !== 'none' && decision.reason).toMatch(/50\.0% of a core over 10 s, above sampling.max_cpu 10\.0%/);
  });
});
