import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { MetricReading } from '../../daemon/model/metrics.js';
import { parsePressureSomeTotal, Pressure, stallFraction } from '../../daemon/metrics/psi.js';
import { buildCFixture } from '../helpers/fixtures.js';


describe('pressure parsing', () => {
  it('reads the some line total and turns a delta into a fraction of the interval', () => {
    // Recorded from this machine's /proc/pressure/memory.
    const text = 'some avg10=0.00 avg60=0.13 avg300=0.10 total=13125720\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10588219\n';
    expect(parsePressureSomeTotal(text)).toBe(13125720);
    expect(parsePressureSomeTotal('full avg10=0.00 total=5\n')).toBeUndefined();
    expect(stallFraction(1_000_000, 1_250_000, 1000)).toBeCloseTo(0.25, 9);
    expect(stallFraction(0, 5_000_000, 1000)).toBe(1);
    expect(stallFraction(10, 5, 1000)).toBe(0);
  });

  it('says why when /proc/pressure is missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'tail2-psi-'));
    try {
      const pressure = new Pressure({ directory: join(empty, 'pressure') });
      expect(pressure.unavailableReason).toMatch(/pressure is missing .*CONFIG_PSI/);
      expect(pressure.collect(Date.now())).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('Pressure on this machine', () => {
  it('gives fractions in [0, 1], and psi_cpu above 0 while more threads are runnable than there are CPUs', async () => {
    const pressure = new Pressure();
    expect(pressure.unavailableReason).toBeUndefined();
    expect(pressure.collect(Date.now())).toEqual([]); // baseline
    const burner = buildCFixture('burner');
    const burners = Array.from({ length: cpus().length * 3 }, () => spawn(burner, ['0'], { stdio: 'ignore' }));
    let readings: MetricReading[] = [];
    try {
      await sleep(1500);
      readings = pressure.collect(Date.now());
    } finally {
      for (const child of burners) child.kill('SIGKILL');
      await Promise.all(burners.map((child) => once(child, 'exit')));
    }
    expect(readings.map((r) => r.metric).sort()).toEqual(['psi_cpu', 'psi_io', 'psi_memory']);
    for (const r of readings) {
      expect(r.instance).toEqual({ kind: 'system' });
      expect(r.value).toBeGreaterThanOrEqual(0);
      expect(r.value).toBeLessThanOrEqual(1);
    }
    // Three runnable burners per CPU: some task waits for a CPU nearly all the time.
    expect(readings.find((r) => r.metric === 'psi_cpu')!.value).toBeGreaterThan(0.3);
  });
});
