import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Recording } from '../daemon/profile/recording.js';
import { RecordLayout } from '../daemon/sampler/sample-record.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';
import { buildCFixture } from './helpers/fixtures.js';

// The BPF sampler, loaded into this kernel and attached to every CPU.
const attachedPrograms = () => execFileSync('bpftool', ['prog', 'show']).toString().split('\n').filter((l) => l.includes('sample_stack')).length;

describe('StackSampler', () => {
  it('samples every CPU at the configured frequency and delivers batches of raw records', async () => {
    const burner = buildCFixture('burner');
    // One burner pinned to each CPU, so every CPU is busy and ticks at the full rate.
    const cpus = Number(execFileSync('nproc').toString());
    const burners = Array.from({ length: cpus }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
    const recording = new Recording();
    const perCpu = new Map<number, number>();
    let batches = 0;
    const sampler = new StackSampler({
      frequency: 199,
      onBatch: (batch) => {
        batches++;
        for (let offset = 0; offset < batch.length; offset += batch.readUInt32LE(offset + RecordLayout.size)) {
          const cpu = batch.readUInt32LE(offset + RecordLayout.cpu);
          perCpu.set(cpu, (perCpu.get(cpu) ?? 0) + 1);
        }
        recording.ingest(batch);
      },
    });
    try {
      await sleep(300);
      expect(sampler.start()).toBe(cpus);
      expect(attachedPrograms()).toBe(1);
      const started = process.hrtime.bigint();
      await sleep(3000);
      await sampler.stop();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const stats = sampler.stats();
      expect(stats).toBeDefined();
      expect(stats!.cpus).toBe(cpus);
      expect(stats!.lost).toBe(0);
      // Everything the kernel side wrote reached JS.
      expect(stats!.delivered).toBe(recording.samples.length + recording.execEvents);
      expect(batches).toBeGreaterThan(1);
      // Each busy CPU ticks at ~199 Hz: allow a wide band for a shared, noisy VM.
      for (let cpu = 0; cpu < cpus; cpu++) {
        const rate = (perCpu.get(cpu) ?? 0) / seconds;
        expect(rate, `CPU ${cpu}`).toBeGreaterThan(199 * 0.6);
        expect(rate, `CPU ${cpu}`).toBeLessThan(199 * 1.1);
      }
      // The burners dominate and carry user stacks.
      // (An exec makes a new entry for the same pid, so count pids, not entries.)
      const burnerPids = new Set(recording.processes.all().filter((p) => p.comm === 'burner').map((p) => p.pid));
      expect(burnerPids).toEqual(new Set(burners.map((child) => child.pid)));
    } finally {
      for (const child of burners) child.kill('SIGKILL');
      await sampler.stop();
    }
    expect(attachedPrograms()).toBe(0);
  });

  it('keeps idle samples as pid 0', async () => {
    const recording = new Recording();
    const sampler = new StackSampler({ onBatch: (batch) => recording.ingest(batch) });
    sampler.start();
    await sleep(1500);
    await sampler.stop();
    const idle = recording.processes.all().find((p) => p.pid === 0);
    expect(idle).toBeDefined();
    let idleSamples = 0;
    for (let i = 0; i < recording.samples.length; i++) if (recording.stacks.processOf(recording.samples.stack[i]) === idle!.id) idleSamples++;
    expect(idleSamples).toBeGreaterThan(0);
  });

  it('samples only the target process when given a pid, counting the rest as filtered', async () => {
    const burner = buildCFixture('burner');
    const child = spawn(burner, ['0'], { stdio: 'ignore' });
    // Another busy process: what the filter must leave out (an idle CPU may not be sampled).
    const other = spawn(burner, ['0'], { stdio: 'ignore' });
    const recording = new Recording();
    const sampler = new StackSampler({ pid: child.pid, onBatch: (batch) => recording.ingest(batch) });
    try {
      sampler.start();
      await sleep(1500);
      await sampler.stop();
    } finally {
      child.kill('SIGKILL');
      other.kill('SIGKILL');
    }
    expect(recording.samples.length).toBeGreaterThan(50);
    expect(recording.processes.all().map((p) => p.pid)).toEqual([child.pid]);
    expect(sampler.stats()!.filtered).toBeGreaterThan(0);
  });

  it('answers a flush with a batch even when the ring holds nothing, so a flush never waits out its timeout', async () => {
    // A sampler of a process that sleeps: nothing is ever sampled.
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const batches: number[] = [];
    const sampler = new StackSampler({ pid: child.pid, batchIntervalMs: 60_000, onBatch: (batch) => batches.push(batch.length) });
    try {
      sampler.start();
      await sleep(200);
      // A timeout longer than any test: the flush must end by its batch, not by giving up.
      await sampler.flush(3_600_000);
      await sampler.flush(3_600_000);
      expect(batches).toEqual([0, 0]);
      await sampler.stop();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('drops and counts batches when JavaScript cannot keep up, without blocking the kernel side', async () => {
    let received = 0;
    const sampler = new StackSampler({ frequency: 2000, batchIntervalMs: 1, onBatch: () => received++ });
    sampler.start();
    // Block the JS thread: the drain thread keeps polling and must drop, not wait.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      /* busy: the event loop cannot take batches */
    }
    await sleep(200);
    await sampler.stop();
    const stats = sampler.stats()!;
    expect(stats.droppedInUserspace).toBeGreaterThan(0);
    expect(stats.lost + stats.droppedInUserspace + stats.delivered).toBeGreaterThan(0);
    expect(received).toBe(stats.deliveredBatches);
  });

  it('bounds what waits for JavaScript in bytes, not only in batches', async () => {
    const batches: number[] = [];
    // Batches every 200 ms of a busy host; at most 4 KiB of them may wait for the event loop.
    const burner = spawn(buildCFixture('burner'), ['0'], { stdio: 'ignore' });
    const sampler = new StackSampler({ frequency: 999, batchIntervalMs: 200, maxQueuedBytes: 4096, onBatch: (batch) => batches.push(batch.length) });
    try {
      sampler.start();
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        /* busy: about ten batches come due while the event loop cannot take them */
      }
      await sleep(300);
    } finally {
      await sampler.stop();
      burner.kill('SIGKILL');
    }
    const stats = sampler.stats()!;
    // Far fewer than the 64 batches the count alone allows waited: the bytes ran out first.
    expect(stats.droppedInUserspace).toBeGreaterThan(0);
    expect(batches.length).toBe(stats.deliveredBatches);
    expect(batches.length).toBeLessThan(20);
  });

  it('refuses to start twice', async () => {
    const sampler = new StackSampler({ onBatch: () => {} });
    sampler.start();
    try {
      expect(() => sampler.start()).toThrow(/starts once/);
    } finally {
      await sampler.stop();
    }
  });
});
