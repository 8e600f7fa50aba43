import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PROFILE_KINDS } from '../daemon/model/profile-kind.js';
import { Recording } from '../daemon/profile/recording.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';
import { buildCFixture } from './helpers/fixtures.js';

// The page-fault profile of the BPF sampler (bpf/sampler.bpf.c, sample_page_fault), on this kernel's
// page-faults software event, switched live on a running sampler.

/** The base page size: what one fault makes resident. */
const PAGE_BYTES = Number(execFileSync('getconf', ['PAGESIZE']).toString().trim());

/** Resident bytes of a process (VmRSS), read from /proc. */
function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** The page-fault samples of `pid` in a recording: how many, and what they weigh (bytes). */
function pageFaultsOf(recording: Recording, pid: number): { samples: number; bytes: number } {
  const record = PROFILE_KINDS.page_faults.record;
  let samples = 0;
  let bytes = 0;
  recording.samples.forEachSample(0, Infinity, (_time, stackId, _tid, weight) => {
    if (recording.stacks.kindOf(stackId) !== record) return;
    if (recording.processes.get(recording.stacks.processOf(stackId))?.pid !== pid) return;
    samples++;
    bytes += weight;
  });
  return { samples, bytes };
}

describe('the page-fault profile', () => {
  it('weighs each sample by the bytes its faults made resident, and attaches, changes period and detaches live', async () => {
    // Grows 40 MiB/s (4 MiB every 100 ms), every page written: one fault per 4 KiB page.
    const leaker = spawn(buildCFixture('leaker'), ['40', '1000'], { stdio: 'ignore' });
    const recording = new Recording();
    const sampler = new StackSampler({ frequency: 49, pageFaults: { period: 0 }, batchIntervalMs: 100, onBatch: (batch) => recording.ingest(batch) });
    try {
      sampler.start();
      await sleep(500);
      // Loaded, not attached: no page-fault sample yet.
      await sampler.flush();
      expect(pageFaultsOf(recording, leaker.pid!).samples).toBe(0);
      expect(sampler.stats()!.pageFaultPeriod).toBe(0);

      const before = residentBytes(leaker.pid!);
      sampler.setPageFaultPeriod(16);
      await sleep(1500);
      // A new period in place: the weights follow it (read from the event, not assumed).
      sampler.setPageFaultPeriod(64);
      expect(sampler.stats()!.pageFaultPeriod).toBe(64);
      await sleep(1500);
      sampler.setPageFaultPeriod(0);
      const after = residentBytes(leaker.pid!);
      expect(sampler.pageFaultPeriod).toBe(0);
      await sampler.flush();
      const sampled = pageFaultsOf(recording, leaker.pid!);
      const grown = after - before;
      expect(grown).toBeGreaterThan(80 * 1024 ** 2);
      // Samples are whole periods: the weight is within a few periods of the growth; the rest is
      // the 100 ms steps the RSS reads and the switches fall between.
      expect(sampled.bytes / grown).toBeGreaterThan(0.85);
      expect(sampled.bytes / grown).toBeLessThan(1.15);
      // Both periods were in force: 16 faults (64 KiB of 4 KiB pages) and 64 faults per sample.
      const weights = new Set<number>();
      const record = PROFILE_KINDS.page_faults.record;
      recording.samples.forEachSample(0, Infinity, (_t, stackId, _tid, weight) => {
        if (recording.stacks.kindOf(stackId) === record) weights.add(weight);
      });
      expect([...weights].sort((a, b) => a - b)).toEqual([16 * PAGE_BYTES, 64 * PAGE_BYTES]);

      // Detached: the leaker goes on faulting, and no more samples come.
      const detached = pageFaultsOf(recording, leaker.pid!).samples;
      await sleep(500);
      await sampler.flush();
      expect(pageFaultsOf(recording, leaker.pid!).samples).toBe(detached);
      expect(residentBytes(leaker.pid!)).toBeGreaterThan(after);
    } finally {
      leaker.kill('SIGKILL');
      await sampler.stop();
    }
  });

  it('is not loaded in a sampler started without it, and says so when asked to run', async () => {
    const sampler = new StackSampler({ frequency: 49, onBatch: () => undefined });
    try {
      sampler.start();
      expect(() => sampler.setPageFaultPeriod(64)).toThrow(/without the pageFaults option/);
      expect(sampler.stats()!.pageFaultSamples).toBe(0);
    } finally {
      await sampler.stop();
    }
  });

  it('refuses a period that is not a whole number of faults', async () => {
    const sampler = new StackSampler({ frequency: 49, pageFaults: { period: 0 }, onBatch: () => undefined });
    try {
      sampler.start();
      expect(() => sampler.setPageFaultPeriod(2.5)).toThrow(/whole number/);
      expect(() => sampler.setPageFaultPeriod(-1)).toThrow(/whole number/);
      expect(sampler.pageFaultPeriod).toBe(0);
    } finally {
      await sampler.stop();
    }
  });
});
