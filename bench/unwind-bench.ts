import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parseFolded } from '../daemon/formats/folded.js';
import { RecordKind, RecordLayout } from '../daemon/sampler/sample-record.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';
import { UNWIND_MODES, type UnwindMode } from '../daemon/model/unwind-table.js';
import { Recording } from '../daemon/profile/recording.js';
import { ProcessFiles } from '../daemon/symbols/process-files.js';
import { processAlive } from '../daemon/unwind/process-alive.js';
import { unwindCapacities } from '../daemon/unwind/unwind-budget.js';
import { UnwindLoader } from '../daemon/unwind/unwind-loader.js';
import { UnwindTables } from '../daemon/unwind/unwind-tables.js';
import { buildCFixture, optimizedBuilds, repoRoot } from '../harness/fixture-programs.js';
import { chainReport, rootReport, stacksFromFolded, type CountedStack } from '../harness/unwind-analysis.js';
import { UNWIND_FIXTURES, type UnwindFixture } from '../harness/unwind-fixtures.js';
import { startPython, startUnwindFixture, startXz, type UnwindWorkload } from '../harness/unwind-workloads.js';
import { parsePerfScript } from './perf-stacks.js';
import { runMeasured, spawnMeasured } from './process-cpu.js';

/** What one profiler saw of one workload. */
export interface UnwindSideResult {
  samples: number;
  /** Share of samples (with user frames) whose outermost user frame is a thread root. */
  reachRoot: number;
  meanUserDepth: number;
  /** For a fixture: share of samples carrying one of its expected chains down to main. */
  fullChain?: number;
}

/** One workload, profiled by perf (DWARF) and tail2 at the same time. */
export interface UnwindWorkloadResult {
  name: string;
  perf: UnwindSideResult;
  tail2: UnwindSideResult;
  /** CPU of each whole process: `perf record`, `perf script` (perf's unwinding happens there), `tail2 record`. */
  perfRecordCpuSeconds: number;
  perfScriptCpuSeconds: number;
  tail2RecordCpuSeconds: number;
}

/** BPF program time per sample of the sampler, in one unwinding mode, on one workload. */
export interface BpfTimeResult {
  name: string;
  mode: UnwindMode;
  /** Samples of the workload the program wrote. */
  samples: number;
  /** Mean µs per written sample, after taking out the program's runs for other processes. */
  microsecondsPerSample: number;
  /** Mean user frames per sample. */
  meanUserDepth: number;
}

export interface UnwindBenchResult {
  seconds: number;
  workloads: UnwindWorkloadResult[];
  /** Sum over workloads of tail2 record CPU / perf record CPU, and / perf record + perf script. */
  cpuRatioToPerfRecord: number;
  cpuRatioToPerfRecordAndScript: number;
  /** Every workload in both modes: frame pointers alone, and unwind tables (`auto`). */
  bpf: BpfTimeResult[];
  /** µs of one run of the program for a tick of another process (the pid filter's early return). */
  filteredRunMicroseconds: number;
  /** The same program on the same stacks at several frequencies: what a sample costs depends on how long since the last. */
  byFrequency: Array<{ hertz: number; microsecondsPerSample: number; samples: number }>;
}

interface Workload {
  name: string;
  fixture?: UnwindFixture;
  start(): UnwindWorkload;
}

/** Every fixture in both builds, then Debian's xz and python3. */
function workloads(): Workload[] {
  const list: Workload[] = [];
  for (const build of optimizedBuilds) {
    for (const fixture of UNWIND_FIXTURES) list.push({ name: `${fixture.name}-${build}`, fixture, start: () => startUnwindFixture(fixture, build, 120) });
  }
  list.push({ name: 'xz -6 -T2', start: startXz }, { name: 'python3 json+re', start: startPython });
  return list;
}

const tail2Cli = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2.js');

function side(stacks: CountedStack[], fixture: UnwindFixture | undefined): UnwindSideResult {
  const root = rootReport(stacks);
  const result: UnwindSideResult = { samples: root.samples, reachRoot: root.samples ? root.reachedRoot / root.samples : 0, meanUserDepth: root.meanUserDepth };
  if (fixture) {
    const chains = chainReport(stacks, fixture);
    result.fullChain = chains.samples ? chains.matched / chains.samples : 0;
  }
  return result;
}

/**
 * `perf record --call-graph dwarf -F 99` and `tail2 record -F 99` on the same process at the same
 * time. perf's stacks come from `perf script` (which does its DWARF unwinding, up to 1024 frames:
 * the default 127 would cut the 200-deep recursion), tail2's from its folded output.
 */
async function profileBoth(workload: Workload, seconds: number): Promise<UnwindWorkloadResult> {
  const dir = join(tmpdir(), `tail2-bench-unwind-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const perfData = join(dir, 'perf.data');
  const folded = join(dir, 'tail2.folded');
  const running = workload.start();
  try {
    await running.ready;
    const perf = spawnMeasured(['perf', 'record', '-q', '-e', 'cpu-clock', '-F', '99', '--call-graph', 'dwarf', '-p', String(running.pid), '-o', perfData, '--', 'sleep', String(seconds + 1)]);
    const tail2 = spawnMeasured([process.execPath, tail2Cli, 'record', '--pid', String(running.pid), '-F', '99', '-d', `${seconds}s`, '-o', folded]);
    await until(() => tail2.stderr().includes('sampling') || tail2.child.exitCode !== null);
    await running.drive();
    const [perfDone, tail2Done] = await Promise.all([perf.done, tail2.done]);
    if (perfDone.code !== 0) throw new Error(`perf record on ${workload.name} failed: ${perf.stderr()}`);
    if (tail2Done.code !== 0) throw new Error(`tail2 record on ${workload.name} failed: ${tail2.stderr()}`);
    running.stop();
    const script = runMeasured(['perf', 'script', '-i', perfData, '-F', 'comm,tid,ip,sym,dso', '--no-inline', '--max-stack', '1024']);
    const perfStacks = parsePerfScript(script.stdout);
    const tail2Stacks = stacksFromFolded(parseFolded(readFileSync(folded, 'utf8')));
    return {
      name: workload.name,
      perf: side(perfStacks, workload.fixture),
      tail2: side(tail2Stacks, workload.fixture),
      perfRecordCpuSeconds: perfDone.cpuSeconds,
      perfScriptCpuSeconds: script.cpuSeconds,
      tail2RecordCpuSeconds: tail2Done.cpuSeconds,
    };
  } finally {
    running.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The sampler's BPF time per sample on one workload in one mode, from the program's run time
 * (kernel.bpf_stats_enabled) with the pid filter on: runs for other processes' ticks (the other
 * CPU, mostly idle) return early and are taken out at `filteredRunNs` each. With tables, measured
 * from the moment the workload's tables are loaded.
 */
async function bpfTime(workload: Workload, seconds: number, filteredRunNs: number, mode: UnwindMode): Promise<BpfTimeResult> {
  const running = workload.start();
  const files = new ProcessFiles();
  try {
    await running.ready;
    let userFrames = 0;
    let written = 0;
    let counting = mode === 'frame-pointer';
    const late: { loader?: UnwindLoader } = {};
    const recording = new Recording(undefined, {
      tablesWanted: (pid, start, unknownMapping) => late.loader?.tablesWanted(pid, start, unknownMapping),
      gone: (pid, start) => late.loader?.gone(pid, start),
    });
    const sampler = new StackSampler({
      frequency: 99,
      pid: running.pid,
      unwind: mode === 'auto' ? unwindCapacities(64 << 20) : undefined,
      onBatch: (batch) => {
        recording.ingest(batch);
        if (!counting) return;
        for (let offset = 0; offset < batch.length; ) {
          const size = batch.readUInt32LE(offset + RecordLayout.size);
          if (batch.readUInt16LE(offset + RecordLayout.kind) === RecordKind.sample) {
            written++;
            userFrames += batch.readUInt16LE(offset + RecordLayout.ustack_len);
          }
          offset += size;
        }
      },
    });
    sampler.start();
    const maps = sampler.unwindMaps();
    if (maps) {
      const loader = new UnwindLoader({ maps, tables: new UnwindTables({ files }), snapshot: (pid, start) => files.snapshot(pid, start), alive: processAlive });
      late.loader = loader;
      while (!loader.knows(running.pid)) {
        await sampler.flush(50);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await sampler.flush();
      counting = true;
    }
    const before = sampler.stats()!;
    const driving = running.drive();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    await driving;
    await sampler.stop();
    late.loader?.close();
    const after = sampler.stats()!;
    const filtered = after.filtered - before.filtered;
    const own = after.samples - before.samples - filtered;
    return {
      name: workload.name,
      mode,
      samples: own,
      microsecondsPerSample: (after.bpfRunTimeNs - before.bpfRunTimeNs - filtered * filteredRunNs) / own / 1000,
      meanUserDepth: written ? userFrames / written : 0,
    };
  } finally {
    running.stop();
    files.close();
  }
}

/**
 * µs per run of the sampler, host-wide, with a frame-pointer burner (5 frames) pinned to every
 * CPU, at each of `frequencies`: the same program on the same stacks, samples closer together.
 */
async function bpfTimeByFrequency(frequencies: number[], seconds: number): Promise<UnwindBenchResult['byFrequency']> {
  const burner = buildCFixture('burner');
  const burners = cpus().map((_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
  try {
    const rows: UnwindBenchResult['byFrequency'] = [];
    for (const hertz of frequencies) {
      const sampler = new StackSampler({ frequency: hertz, onBatch: () => {} });
      sampler.start();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      await sampler.stop();
      const stats = sampler.stats()!;
      rows.push({ hertz, microsecondsPerSample: stats.bpfRunTimeNs / Math.max(1, stats.samples) / 1000, samples: stats.samples });
    }
    return rows;
  } finally {
    for (const child of burners) child.kill('SIGKILL');
  }
}

/** ns per run of the program when every tick is filtered out (the target sleeps). */
async function filteredRunNs(seconds: number): Promise<number> {
  const sleeper = spawn('sleep', [String(seconds + 10)], { stdio: 'ignore' });
  try {
    const sampler = new StackSampler({ frequency: 99, pid: sleeper.pid!, onBatch: () => {} });
    sampler.start();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    await sampler.stop();
    const stats = sampler.stats()!;
    return stats.bpfRunTimeNs / Math.max(1, stats.samples);
  } finally {
    sleeper.kill('SIGKILL');
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Issue 13's benchmark: for every unwinding fixture (both builds) and Debian's xz and python3,
 * reach-root share, full-chain share and mean user depth of `tail2 record` against
 * `perf record --call-graph dwarf -F 99` on the same process at the same time; the CPU of the two
 * recorders; and the sampler's BPF time per sample.
 */
export async function runUnwindBench(seconds = 6): Promise<UnwindBenchResult> {
  const results: UnwindWorkloadResult[] = [];
  for (const workload of workloads()) results.push(await profileBoth(workload, seconds));
  const sum = (pick: (row: UnwindWorkloadResult) => number) => results.reduce((total, row) => total + pick(row), 0);

  const statsFile = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(statsFile, 'utf8').trim();
  writeFileSync(statsFile, '1');
  const bpf: BpfTimeResult[] = [];
  let filtered: number;
  let byFrequency: UnwindBenchResult['byFrequency'];
  try {
    filtered = await filteredRunNs(3);
    for (const workload of workloads()) {
      for (const mode of UNWIND_MODES) bpf.push(await bpfTime(workload, 3, filtered, mode));
    }
    byFrequency = await bpfTimeByFrequency([49, 99, 999, 99, 999], 4);
  } finally {
    writeFileSync(statsFile, statsBefore);
  }
  return {
    seconds,
    workloads: results,
    cpuRatioToPerfRecord: sum((row) => row.tail2RecordCpuSeconds) / sum((row) => row.perfRecordCpuSeconds),
    cpuRatioToPerfRecordAndScript: sum((row) => row.tail2RecordCpuSeconds) / sum((row) => row.perfRecordCpuSeconds + row.perfScriptCpuSeconds),
    bpf,
    filteredRunMicroseconds: filtered / 1000,
    byFrequency,
  };
}
