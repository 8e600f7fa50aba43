import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PAGE_FAULT_PERIOD } from '../daemon/model/page-fault-profile.js';
import { buildOptimizedCFixture, repoRoot } from '../harness/fixture-programs.js';
import { spawnMeasured } from './process-cpu.js';

/** What the faulter (test/fixtures/programs/faulter.c) says of its run. */
interface FaulterRun {
  bytes: number;
  faults: number;
  /** Its own CPU: user + system, the BPF programs and perf's work on its faults included. */
  cpu_s: number;
  wall_s: number;
}

/** One way of running the faulter: alone, or with a profiler on the host. */
export interface PageFaultCondition {
  name: string;
  faulter: FaulterRun;
  /** The profiler's own process CPU (0 alone). */
  profilerCpuSeconds: number;
  /** tail2's BPF programs' run time (ns), from kernel.bpf_stats_enabled; 0 for the others. */
  bpfNs: number;
  /** Page-fault samples taken (tail2). */
  pageFaultSamples: number;
  /** User stacks walked with unwind tables, and without (the process's not loaded yet) (tail2). */
  tableWalks?: number;
  walksWithoutTables?: number;
}

export interface PageFaultBenchResult {
  seconds: number;
  rounds: number;
  rateMiBPerSecond: number;
  period: number;
  /** Paced at the rate: alone, tail2 CPU sampling only, tail2 with page faults, perf record on page faults. */
  paced: { alone: PageFaultCondition; tail2Cpu: PageFaultCondition; tail2Faults: PageFaultCondition; perf: PageFaultCondition; perfDwarf: PageFaultCondition };
  /** As fast as it can: alone and with tail2's page faults (the slowdown of a process that does nothing but fault). */
  unpaced: { alone: PageFaultCondition; tail2Faults: PageFaultCondition };
}

const SETTLE_MS = 2000;

/**
 * The page-fault profile's cost (docs/profiles.md): a process making `rateMiB` MiB/s of new memory
 * resident for `seconds`, alone, under tail2's sampler with CPU sampling only, with page faults
 * at the default period too, and under `perf record -e page-faults -c PERIOD -a -g` on the same
 * workload; then the same process unpaced, alone and with tail2's page faults.
 */
export async function runPageFaultBench(seconds = 10, rateMiB = 1024, rounds = 3): Promise<PageFaultBenchResult> {
  // As a distribution builds it (no frame pointers): the walks go by the unwind tables, as tail2d's do.
  const faulterBinary = buildOptimizedCFixture('faulter', 'nofp');
  const child = join(repoRoot, 'dist', 'bench', 'sampling-child.js');
  const period = DEFAULT_PAGE_FAULT_PERIOD;
  const profilerSeconds = String(seconds + 2 * (SETTLE_MS / 1000));
  const runFaulter = (rate: number): FaulterRun => JSON.parse(execFileSync(faulterBinary, [String(rate), String(seconds)]).toString()) as FaulterRun;

  const alone = (name: string, rate: number): PageFaultCondition => ({ name, faulter: runFaulter(rate), profilerCpuSeconds: 0, bpfNs: 0, pageFaultSamples: 0 });
  const underTail2 = async (name: string, rate: number, faultPeriod: number): Promise<PageFaultCondition> => {
    // With unwind tables, loaded by tail2-reader as tail2d loads them.
    const profiler = spawnMeasured([process.execPath, child, profilerSeconds, '99', String(faultPeriod), 'tables']);
    await sleep(SETTLE_MS);
    const faulter = runFaulter(rate);
    const { cpuSeconds } = await profiler.done;
    const inner = JSON.parse(profiler.stdout()) as { bpfSeconds: number; stats: { pageFaultSamples: number; tableWalks: number; walksWithoutTables: number } };
    return {
      name,
      faulter,
      profilerCpuSeconds: cpuSeconds,
      bpfNs: inner.bpfSeconds * 1e9,
      pageFaultSamples: inner.stats.pageFaultSamples,
      tableWalks: inner.stats.tableWalks,
      walksWithoutTables: inner.stats.walksWithoutTables,
    };
  };
  const underPerf = async (name: string, rate: number, callGraph: string[]): Promise<PageFaultCondition> => {
    const profiler = spawnMeasured(['perf', 'record', '-q', '-e', 'page-faults', '-c', String(period), '-a', ...callGraph, '-o', '/tmp/tail2-bench-faults.data', '--', 'sleep', profilerSeconds]);
    await sleep(SETTLE_MS);
    const faulter = runFaulter(rate);
    const { cpuSeconds } = await profiler.done;
    return { name, faulter, profilerCpuSeconds: cpuSeconds, bpfNs: 0, pageFaultSamples: 0 };
  };

  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  try {
    // The faulter's CPU per GiB varies by a few percent from run to run on a shared VM, as much as
    // the profile costs: the conditions take turns, `rounds` times, and each keeps its median run.
    const runs: PageFaultCondition[][] = [[], [], [], [], []];
    for (let round = 0; round < rounds; round++) {
      runs[0].push(alone('alone', rateMiB));
      runs[1].push(await underTail2('tail2, CPU sampling only', rateMiB, 0));
      runs[2].push(await underTail2(`tail2, CPU + page faults (period ${period})`, rateMiB, period));
      // -g walks frame pointers, which this faulter lacks (short, cheap, broken stacks); DWARF
      // copies the stack for perf to unwind later, as tail2 unwinds by tables: the fair baseline.
      runs[3].push(await underPerf(`perf record -e page-faults -c ${period} -a -g`, rateMiB, ['-g']));
      runs[4].push(await underPerf(`… --call-graph dwarf`, rateMiB, ['--call-graph', 'dwarf']));
    }
    const [aloneRun, tail2Cpu, tail2Faults, perf, perfDwarf] = runs.map(medianRun);
    const paced = { alone: aloneRun, tail2Cpu, tail2Faults, perf, perfDwarf };
    const fast: PageFaultCondition[][] = [[], []];
    for (let round = 0; round < rounds; round++) {
      fast[0].push(alone('alone', 0));
      fast[1].push(await underTail2(`tail2, CPU + page faults (period ${period})`, 0, period));
    }
    const [fastAlone, fastFaults] = fast.map(medianRun);
    const unpaced = { alone: fastAlone, tail2Faults: fastFaults };
    return { seconds, rounds, rateMiBPerSecond: rateMiB, period, paced, unpaced };
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0');
  }
}

/** The run whose faulter spent the median CPU per byte. */
function medianRun(runs: PageFaultCondition[]): PageFaultCondition {
  const sorted = [...runs].sort((a, b) => a.faulter.cpu_s / a.faulter.bytes - b.faulter.cpu_s / b.faulter.bytes);
  return sorted[Math.floor(sorted.length / 2)];
}
