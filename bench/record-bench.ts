import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';
import { CgroupCpu } from './cgroup-cpu.js';
import { runMeasured, spawnMeasured } from './process-cpu.js';

/** One `tail2 record` run, measured whole. */
export interface RecordRun {
  /** User + system CPU of the process and every process it started (tail2-reader), start-up to exit (a cgroup's count). */
  processCpuSeconds: number;
  /** The same as GNU time sees it: only the children it waited for. */
  timeCpuSeconds: number;
  /** Run time of its BPF programs (kernel.bpf_stats_enabled), charged to the sampled tasks. */
  bpfSeconds: number;
  /** Wall time from spawn to exit. */
  wallSeconds: number;
  /** The programs it loaded, by name. */
  programs: string[];
}

export interface RecordBenchResult {
  seconds: number;
  cpus: number;
  /** The first run: the unwind-table cache in the user's cache directory may be cold. */
  first: RecordRun;
  /** The runs after it, caches warm. */
  warm: RecordRun[];
  /** `perf record -F 99 -a -g` for as long, whole process (a cgroup's count, as tail2's). */
  perfCpuSeconds: number[];
  /** Median warm (process + BPF) / median perf. */
  ratio: number;
}

/** A process's children (the command GNU time runs). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The BPF programs a process holds, from its fds' fdinfo (prog_id, run_time_ns): id → name and
 * run time so far. A program's fdinfo stops being readable when the process closes it, so the
 * caller polls and keeps the last value; what runs between the last poll and the close (at most
 * one poll interval of sampling, just before the sampler stops) is missed.
 */
function bpfPrograms(pid: number, into: Map<number, { name: string; runTimeNs: number }>): void {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return;
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const id = /^prog_id:\s+(\d+)/m.exec(text);
    if (!id) continue;
    const runTime = Number(/^run_time_ns:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    const known = into.get(Number(id[1]));
    if (known) known.runTimeNs = Math.max(known.runTimeNs, runTime);
    else into.set(Number(id[1]), { name: programName(Number(id[1])), runTimeNs: runTime });
  }
}

function programName(id: number): string {
  try {
    const out = runMeasured(['bpftool', 'prog', 'show', 'id', String(id), '-j']).stdout;
    return (JSON.parse(out) as { name?: string }).name ?? `prog ${id}`;
  } catch {
    return `prog ${id}`;
  }
}

const tail2Cli = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2.js');

async function recordOnce(seconds: number, output: string): Promise<RecordRun> {
  const startedMs = performance.now();
  const cgroup = new CgroupCpu('tail2-bench-record');
  const run = spawnMeasured(cgroup.wrap([process.execPath, tail2Cli, 'record', '-d', `${seconds}s`, '-o', output]));
  const programs = new Map<number, { name: string; runTimeNs: number }>();
  let tail2Pid: number | undefined;
  const poll = setInterval(() => {
    tail2Pid ??= childrenOf(run.child.pid!)[0];
    if (tail2Pid !== undefined) bpfPrograms(tail2Pid, programs);
  }, 100);
  try {
    const done = await run.done;
    const wallSeconds = (performance.now() - startedMs) / 1000;
    const cpuSeconds = await cgroup.finish();
    if (done.code !== 0) throw new Error(`tail2 record exited with ${done.code}: ${run.stderr()}`);
    const bpfNs = [...programs.values()].reduce((total, program) => total + program.runTimeNs, 0);
    return { processCpuSeconds: cpuSeconds, timeCpuSeconds: done.cpuSeconds, bpfSeconds: bpfNs / 1e9, wallSeconds, programs: [...programs.values()].map((p) => p.name) };
  } finally {
    clearInterval(poll);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Issue 14's `tail2 record` goal: every CPU busy with a burner, `tail2 record` host-wide with the
 * default unwinding for `seconds`, whole process (Node start-up, BPF load, sampling, symbolizing,
 * writing a pprof file, its tail2-reader children) plus its BPF programs' run time, against
 * `perf record -F 99 -a -g` for as long, whole process, alternating in the same run.
 */
export async function runRecordBench(seconds = 15, rounds = 3): Promise<RecordBenchResult> {
  const cpuCount = cpus().length;
  const burner = buildCFixture('burner');
  const burners: ChildProcess[] = Array.from({ length: cpuCount }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
  const statsFile = '/proc/sys/kernel/bpf_stats_enabled';
  const statsBefore = readFileSync(statsFile, 'utf8').trim();
  writeFileSync(statsFile, '1');
  const dir = mkdtempSync(join(tmpdir(), 'tail2-bench-record-'));
  try {
    const first = await recordOnce(seconds, join(dir, 'first.pb.gz'));
    const warm: RecordRun[] = [];
    const perf: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const cgroup = new CgroupCpu('tail2-bench-perf');
      runMeasured(cgroup.wrap(['perf', 'record', '-q', '-F', '99', '-a', '-g', '-o', join(dir, 'perf.data'), '--', 'sleep', String(seconds)]));
      perf.push(await cgroup.finish());
      warm.push(await recordOnce(seconds, join(dir, `warm-${round}.pb.gz`)));
    }
    return {
      seconds,
      cpus: cpuCount,
      first,
      warm,
      perfCpuSeconds: perf,
      ratio: median(warm.map((run) => run.processCpuSeconds + run.bpfSeconds)) / median(perf),
    };
  } finally {
    writeFileSync(statsFile, statsBefore);
    for (const child of burners) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
