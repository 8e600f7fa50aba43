// tail2d's memory under bursts of processes it must track: 200 short-lived processes with Java-sized
// command lines (1.4 MB each) under rules that track every process, and a fork storm of thousands.
// Its resident memory must stay within buffer.max_memory plus the fixed overhead README.md states
// ("Memory"), and the budget it keeps must hold.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture } from '../helpers/fixtures.js';

/** README.md, "Memory": the daemon's own code, V8 and libraries, beyond buffer.max_memory. */
const FIXED_OVERHEAD_BYTES = 160 * 1024 * 1024;
const MAX_MEMORY = 64 * 1024 * 1024;

const running: RunningDaemon[] = [];
afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
});

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

const RULES = [
  'rules:',
  '  - { name: spin, metric: cpu, scope: { process: "." }, above: 95%, for: 2m }',
  '  - { name: leak, metric: rss_growth, scope: { process: "." }, above: 50MiB/min, for: 3m }',
].join('\n');

describe('tail2d memory under bursts of processes', () => {
  it('stays within buffer.max_memory plus the fixed overhead through 200 processes with 1.4 MB command lines', async () => {
    const d = await startDaemon('burst-cmdlines', RULES, 'buffer: { retain: 10m, max_memory: 64MiB }\n');
    running.push(d);
    const pid = d.child.pid!;
    const sleeper = buildCFixture('sleeper');
    const huge = Array.from({ length: 12 }, () => 'x'.repeat(120_000)); // 1.44 MB of arguments
    const exits: Array<Promise<void>> = [];
    let highest = 0;
    for (let i = 0; i < 200; i++) {
      // Each lives about three seconds: seen by the collectors and sampled, then gone.
      const child = spawn(sleeper, ['3', `--classpath-${i}`, ...huge], { stdio: 'ignore' });
      exits.push(new Promise((resolve) => child.once('exit', () => resolve())));
      await sleep(25);
      if (i % 20 === 0) highest = Math.max(highest, memoryOf(pid).rss);
    }
    await Promise.all(exits);
    const status = await d.collectedSince(Date.now());
    const { rss, peak } = memoryOf(pid);
    highest = Math.max(highest, rss);
    expect(status.memory.bytes).toBeLessThanOrEqual(status.memory.max_bytes);
    expect(highest).toBeLessThanOrEqual(MAX_MEMORY + FIXED_OVERHEAD_BYTES);
    expect(peak).toBeLessThanOrEqual(MAX_MEMORY + FIXED_OVERHEAD_BYTES);
    // Each process's command line is kept at 4 KiB at most, wherever it is kept.
    expect(status.memory.parts.processes / Math.max(1, status.buffer.processes)).toBeLessThan(16 * 1024);
    expect((await fetch(`${d.baseUrl}/healthz`)).ok).toBe(true);
  });

  it('keeps its budget, evicting oldest first, through a fork storm of thousands of processes', async () => {
    // 999 Hz, so each of the 3,000 short-lived children (10 ms of work each, a name of its own) is
    // sampled: thousands of processes, thread names and stacks, several times what fits in 2 MiB.
    // Not 1 MiB: what cannot be evicted (the chunk being filled, the metrics of the processes
    // alive right now) comes close to 1 MiB in the storm, and the budget never evicts those.
    const d = await startDaemon('burst-forks', RULES, 'sampling: { frequency: 999 }\nbuffer: { retain: 10m, max_memory: 2MiB }\n');
    running.push(d);
    const pid = d.child.pid!;
    execFileSync(buildCFixture('forker'), ['3000', '10'], { timeout: 300_000 });
    const status = await d.collectedSince(Date.now());
    expect(status.memory.bytes).toBeLessThanOrEqual(status.memory.max_bytes);
    expect(status.memory.evicted.samples + status.memory.evicted.processes).toBeGreaterThan(0);
    expect(memoryOf(pid).peak).toBeLessThanOrEqual(2 * 1024 * 1024 + FIXED_OVERHEAD_BYTES);
  });
});
