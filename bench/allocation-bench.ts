import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_ALLOCATION_MEAN_BYTES, DEFAULT_MAX_TRACKED_ALLOCATIONS } from '../daemon/model/allocation-sampling.js';
import { AllocatorTarget } from '../daemon/probes/allocator-target.js';
import { UserProbes } from '../daemon/probes/user-probes.js';
import { Recording } from '../daemon/profile/recording.js';
import type { AllocationProgram, NativeSamplerStats } from '../daemon/sampler/native-addon.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';
import { ProcessFiles } from '../daemon/symbols/process-files.js';
import { buildOptimizedCFixture } from '../harness/fixture-programs.js';

/** alloc-work (test/fixtures/programs/alloc-work.c): operations so far, at a monotonic time. */
class AllocWork {
  readonly child: ChildProcess;
  private buffered = '';
  private waiting: Array<(line: string) => void> = [];

  constructor(binary: string, iterations: number, size: number) {
    this.child = spawn(binary, [String(iterations), String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (data: Buffer) => {
      this.buffered += data.toString();
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  ready(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async count(): Promise<{ ops: number; ns: number }> {
    const line = new Promise<string>((resolve) => this.waiting.push(resolve));
    this.child.kill('SIGUSR1');
    const [, ops, , ns] = (await line).split(' ');
    return { ops: Number(ops), ns: Number(ns) };
  }

  /** Operations a second over the next `ms`. */
  async rate(ms: number): Promise<number> {
    const a = await this.count();
    await sleep(ms);
    const b = await this.count();
    return ((b.ops - a.ops) * 1e9) / (b.ns - a.ns);
  }
}

export interface AllocationRateRun {
  /** Operations (one malloc and one free each, and work) a second the fixture was calibrated to, alone. */
  targetRate: number;
  /** Measured, probes off (before and after, averaged) and on. */
  opsOff: number;
  opsOn: number;
  /** opsOff / opsOn. */
  slowdown: number;
  /** What each probed call added to the fixture, from the two rates: (1/on − 1/off) per call. */
  addedNsPerCall: number;
  /** BPF time per run of malloc's program (entries, and the few returns) and free's. */
  mallocProgramNs: number;
  freeProgramNs: number;
  /** Allocations sampled while probed. */
  samples: number;
}

export interface AllocationBenchResult {
  seconds: number;
  size: number;
  meanBytes: number;
  runs: AllocationRateRun[];
  /** Every allocation sampled (a mean of one byte): BPF time per sampled allocation, entry with its stack walk and return, and its free. */
  sampledNsPerAllocation: number;
}

/**
 * The allocation probes' cost (docs/profiles.md#allocations) on an allocation fixture built as a
 * distribution builds (no frame pointers): its operations a second with the probes off and on, in
 * the same process and run (off, on, off again), at 10k, 100k and 1M allocations a second; and the
 * BPF time of each program from kernel.bpf_stats_enabled. The sampler runs (CPU at 99 Hz) in every
 * window; only the probes differ.
 */
export async function runAllocationBench(seconds = 4, rates = [1e4, 1e5, 1e6], size = 64): Promise<AllocationBenchResult> {
  const binary = buildOptimizedCFixture('alloc-work', 'nofp');
  const files = new ProcessFiles();
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  const runOne = async (rate: number, meanBytes: number): Promise<AllocationRateRun> => {
    const iterations = Number(execFileSync(binary, ['--calibrate', String(rate), String(size)]).toString().trim());
    const recording = new Recording((pid, startTimeNs) => files.snapshot(pid, startTimeNs), undefined, meanBytes);
    const sampler = new StackSampler({ frequency: 99, allocations: { meanBytes, maxTracked: DEFAULT_MAX_TRACKED_ALLOCATIONS }, batchIntervalMs: 500, onBatch: (batch) => recording.ingest(batch) });
    const work = new AllocWork(binary, iterations, size);
    try {
      sampler.start();
      await work.ready();
      await sleep(500);
      const before = await work.rate(seconds * 1000);
      const ledger = recording.allocations!;
      const probes = new UserProbes({
        target: new AllocatorTarget((process, mapping, names) => files.functionOffsets(process, mapping, names)),
        writer: sampler.probeWriter('malloc')!,
        snapshot: (pid) => files.snapshot(pid),
        follow: (pid) => ledger.follow(pid),
        forget: (pid) => ledger.forget(pid),
      });
      await probes.attach(work.child.pid!, 600_000, 'bench');
      await sleep(300);
      const statsBefore = sampler.stats()!;
      const on = await work.rate(seconds * 1000);
      const statsAfter = sampler.stats()!;
      probes.close();
      await sleep(300);
      const after = await work.rate(seconds * 1000);
      const off = (before + after) / 2;
      const program = (stats: NativeSamplerStats, name: AllocationProgram) => stats.allocationProbePrograms[name] ?? { runs: 0, runTimeNs: 0 };
      const perRun = (name: AllocationProgram) => {
        const runs = program(statsAfter, name).runs - program(statsBefore, name).runs;
        return runs > 0 ? (program(statsAfter, name).runTimeNs - program(statsBefore, name).runTimeNs) / runs : 0;
      };
      return {
        targetRate: rate,
        opsOff: off,
        opsOn: on,
        slowdown: off / on,
        addedNsPerCall: ((1 / on - 1 / off) * 1e9) / 2,
        mallocProgramNs: perRun('size_arg1'),
        freeProgramNs: perRun('free'),
        samples: statsAfter.allocationSamples - statsBefore.allocationSamples,
      };
    } finally {
      work.child.kill('SIGKILL');
      await sampler.stop();
    }
  };
  try {
    const runs: AllocationRateRun[] = [];
    for (const rate of rates) runs.push(await runOne(rate, DEFAULT_ALLOCATION_MEAN_BYTES));
    // Every allocation sampled: what a sampled one costs in BPF, entry (stack walk), return and free.
    const every = await runOne(1e4, 1);
    const sampledNsPerAllocation = every.mallocProgramNs * 2 + every.freeProgramNs;
    return { seconds, size, meanBytes: DEFAULT_ALLOCATION_MEAN_BYTES, runs, sampledNsPerAllocation };
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0');
    files.close();
  }
}
