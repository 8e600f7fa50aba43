import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseProcStat, SystemCpu, systemCoresBusy } from '../../daemon/metrics/proc-stat.js';
import { buildCFixture } from '../helpers/fixtures.js';


// Recorded from this machine (2 CPUs).
const STAT_A = `cpu  370286 287 56947 549508 1452 0 1864 0 0 0
cpu0 175948 142 25866 287042 142 0 937 0 0 0
cpu1 194338 144 31080 262465 1310 0 927 0 0 0
intr 1 2 3
ctxt 123
`;

describe('parseProcStat', () => {
  it('sums busy ticks (user, nice, system, irq, softirq) and counts CPUs', () => {
    expect(parseProcStat(STAT_A)).toEqual({ busyTicks: 370286 + 287 + 56947 + 0 + 1864, idleTicks: 549508 + 1452, stealTicks: 0, cpus: 2 });
  });

  it('turns a tick delta into cores over wall time: both CPUs busy for 1 s is 2', () => {
    const before = parseProcStat(STAT_A);
    const after = { ...before, busyTicks: before.busyTicks + 200 };
    expect(systemCoresBusy(before, after, 1000)).toBeCloseTo(2, 6);
    expect(systemCoresBusy(before, { ...before, busyTicks: before.busyTicks + 50 }, 500)).toBeCloseTo(1, 6);
    // Never above the CPU count, whatever the tick rounding.
    expect(systemCoresBusy(before, { ...before, busyTicks: before.busyTicks + 300 }, 1000)).toBe(2);
  });
});

describe('SystemCpu on this machine', () => {
  it('reads about one core while a burner is pinned to one CPU', async () => {
    const burner = spawn('taskset', ['-c', '0', buildCFixture('burner'), '0'], { stdio: 'ignore' });
    try {
      const cpu = new SystemCpu();
      await sleep(300);
      expect(cpu.read(Date.now())).toBeUndefined(); // the first read is the baseline
      const values: number[] = [];
      for (let round = 0; round < 3; round++) {
        await sleep(1000);
        const reading = cpu.read(Date.now())!;
        expect(reading.instance).toEqual({ kind: 'system' });
        values.push(reading.value);
      }
      const median = [...values].sort((a, b) => a - b)[1];
      // This VM is shared and noisy: at least the burner's core, at most every core.
      expect(median).toBeGreaterThan(0.8);
      expect(median).toBeLessThanOrEqual(cpu.cpus);
    } finally {
      burner.kill('SIGKILL');
      await once(burner, 'exit');
    }
  });
});
