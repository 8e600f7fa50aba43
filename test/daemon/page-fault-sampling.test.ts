import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import type { Tail2Config } from '../../daemon/model/config.js';
import type { PageFaultMode } from '../../daemon/model/page-fault-profile.js';
import { BatchIngest } from '../../daemon/profile/batch-ingest.js';
import { createStackTables } from '../../daemon/profile/stack-tables.js';
import { Sampling } from '../../daemon/tail2d/sampling.js';
import { makeRule } from '../triggers/rule-fixture.js';
import { buildCFixture } from '../helpers/fixtures.js';

// tail2d's sampling lifecycle and the page-fault profile (docs/profiles.md), on the real BPF
// sampler in this kernel: the rules switch it, CPU backoff slows it down with the CPU samples, and
// its status says what is so.

const running: Sampling[] = [];

afterEach(async () => {
  for (const sampling of running.splice(0)) await sampling.stop();
});

function sampling(mode: PageFaultMode, maxCpu = 0.25, periodFaults = 256): Sampling {
  const tables = createStackTables(() => undefined);
  const buffer = new RollingBuffer(tables, { retainNs: 60e9, maxBytes: 64 << 20 });
  const config: Tail2Config['sampling'] = { frequency: 99, maxCpu, unwind: 'frame-pointer', unwindMemoryBytes: 64 << 20, pageFaults: { mode, periodFaults }, allocations: { mode: 'off', meanBytes: 524288, maxTracked: 1 }, copies: { mode: 'off', meanBytes: 1048576 } };
  const started = new Sampling({ config, ingest: new BatchIngest(tables, buffer), buffer, log: pino({ level: 'silent' }) });
  running.push(started);
  return started;
}

const memoryRule = makeRule({ name: 'leak', metric: 'rss_growth', scope: { kind: 'process', pattern: /^leaker$/ } });
const cpuRule = makeRule({ name: 'spin', metric: 'cpu' });

describe('the page-fault profile in tail2d', () => {
  it('follows the rules, slows down with CPU sampling and comes back with it', async () => {
    const s = sampling('auto', 0.05);
    s.watchRules([cpuRule]);
    s.start();
    expect(s.status().page_faults).toMatchObject({ on: false, samples: 0, error: null });
    s.watchRules([cpuRule, memoryRule]);
    expect(s.status().page_faults).toMatchObject({ on: true, period_faults: 256, reason: expect.stringMatching(/^rule leak watches resident memory/) });
    expect(s.samplerStats()?.pageFaultPeriod).toBe(256);
    // tail2d over sampling.max_cpu for 10 s: CPU sampling halves, and page faults with it.
    for (let second = 0; second < 10; second++) s.protectHost(0.5);
    expect(s.frequency).toBe(49);
    expect(s.status().page_faults.period_faults).toBe(512);
    expect(s.samplerStats()?.pageFaultPeriod).toBe(512);
    // Calm for ten minutes: both come back.
    for (let second = 0; second < 600; second++) s.protectHost(0);
    expect(s.frequency).toBe(98);
    expect(s.samplerStats()?.pageFaultPeriod).toBe(256);
    // The memory rule goes: off, live.
    s.watchRules([cpuRule]);
    expect(s.status().page_faults.on).toBe(false);
    expect(s.samplerStats()?.pageFaultPeriod).toBe(0);
    // Stopped: off, whatever the rules say.
    s.watchRules([memoryRule]);
    await s.stop();
    expect(s.status().page_faults.on).toBe(false);
  });

  it('never samples page faults with mode off, whatever the rules, and always with mode on', async () => {
    const off = sampling('off');
    off.watchRules([memoryRule]);
    off.start();
    expect(off.status().page_faults).toMatchObject({ mode: 'off', on: false, error: null, reason: 'sampling.page_faults.mode is off' });
    expect(off.samplerStats()?.pageFaultPeriod).toBe(0);
    await off.stop();
    const on = sampling('on');
    on.watchRules([]);
    on.start();
    expect(on.status().page_faults).toMatchObject({ mode: 'on', on: true, period_faults: 256, reason: 'sampling.page_faults.mode is on' });
  });
});

describe('a process that faults faster than tail2 keeps page faults', () => {
  it('doubles the period until the samples arrive at the limit, and says so', async () => {
    // 1 GiB/s of new memory at one sample per 16 faults: ~16,000 samples a second.
    const faulter = spawn(buildCFixture('faulter'), ['1024', '20'], { stdio: 'ignore' });
    try {
      const s = sampling('on', 0.25, 16);
      s.watchRules([]);
      s.start();
      expect(s.samplerStats()?.pageFaultPeriod).toBe(16);
      // Once a round, as tail2d calls it.
      for (let round = 0; round < 6; round++) {
        await sleep(1000);
        s.protectHost(0);
      }
      const period = s.samplerStats()?.pageFaultPeriod ?? 0;
      // Doubled at least three times (16 → 128): 16,000 a second over 2,000 needs eight times the period.
      expect(period).toBeGreaterThanOrEqual(128);
      expect(s.status().page_faults).toMatchObject({ on: true, period_faults: period, reason: expect.stringMatching(/period ×\d+: more than 2000 samples a second arrived/) });
    } finally {
      faulter.kill('SIGKILL');
    }
  });
});
