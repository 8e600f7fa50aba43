import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parse, stringify } from 'yaml';
import type { PageFaultMode } from '../daemon/model/page-fault-profile.js';
import { join } from 'node:path';
import { tail2dCommand } from '../harness/daemon-command.js';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';
import { freePort } from './free-port.js';
import { runMeasured } from './process-cpu.js';

export interface DaemonCostRow {
  /** Processes on the host while measured (sleepers included). */
  processes: number;
  seconds: number;
  cpus: number;
  /** tail2d and every process under it (tail2-reader, the buffer process, redis-server), user + system. */
  daemonCpuSeconds: number;
  /** Of which redis-server (BullMQ's store, idle without notifications). */
  redisCpuSeconds: number;
  /** Run time of tail2d's BPF programs in the window (kernel.bpf_stats_enabled). */
  bpfSeconds: number;
  /** (daemon + BPF) per second, as % of one core, per sampled CPU. */
  percentPerCpu: number;
  /** `perf record -F 99 -a -g` for the same seconds, whole process, as % of one core per sampled CPU. */
  perfPercentPerCpu: number;
  perfCpuSeconds: number;
  /** tail2d's RSS at the end of the window (bytes). */
  rssBytes: number;
  /** Rounds tail2d ran before their time in the window (the samples showed a rise: daemon/tail2d/early-rounds.ts). */
  earlyRounds: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface TaskCpu {
  ppid: number;
  comm: string;
  ticks: number;
}

function readTasks(): Map<number, TaskCpu> {
  const tasks = new Map<number, TaskCpu>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = text.lastIndexOf(')');
      const fields = text.slice(close + 2).split(' ');
      tasks.set(Number(name), { ppid: Number(fields[1]), comm: text.slice(text.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited between readdir and read
    }
  }
  return tasks;
}

// tail2d and its descendants, with their CPU ticks now.
function familyTicks(root: number): Map<number, TaskCpu> {
  const tasks = readTasks();
  const family = new Map<number, TaskCpu>();
  const add = (pid: number) => {
    const task = tasks.get(pid);
    if (!task || family.has(pid)) return;
    family.set(pid, task);
    for (const [child, t] of tasks) if (t.ppid === pid) add(child);
  };
  add(root);
  return family;
}

// Ids of the BPF programs the processes `pids` hold open (each prog fd's fdinfo names its prog_id).
function heldProgramIds(pids: Iterable<number>): Set<number> {
  const ids = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue; // exited
    }
    for (const fd of fds) {
      try {
        const id = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
        if (id) ids.add(Number(id));
      } catch {
        // closed meanwhile
      }
    }
  }
  return ids;
}

/**
 * Run time (ns, kernel.bpf_stats_enabled) of every BPF program the processes `pids` hold, but
 * iterators: those run inside the holder's own read() of the iterator, so their time is already
 * in its system CPU (the task iterator's ~0.2 µs per task would count twice). The others run in
 * the context of whatever they observe (a sampling interrupt, an exec) and are charged to it.
 */
export function bpfRunTimeNs(pids: Iterable<number>): number {
  const ids = heldProgramIds(pids);
  const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { maxBuffer: 64 << 20 }).toString()) as { type: string; prog_id?: number }[];
  for (const link of links) if (link.type === 'iter' && link.prog_id !== undefined) ids.delete(link.prog_id);
  const programs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { maxBuffer: 64 << 20 }).toString()) as { id: number; run_time_ns?: number }[];
  let total = 0;
  for (const program of programs) if (ids.has(program.id)) total += program.run_time_ns ?? 0;
  return total;
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

async function earlyRoundsOf(port: number): Promise<number> {
  const status = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { metrics: { early_rounds: number } };
  return status.metrics.early_rounds;
}

function countProcesses(): number {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
}

// `count` sleeping processes under one shell (one process group, killed at once).
function startSleepers(count: number): ChildProcess {
  return spawn('bash', ['-c', `for i in $(seq ${count}); do sleep 1d & done; wait`], { stdio: 'ignore', detached: true });
}

/**
 * tail2d's whole cost in steady state, the way a host pays it: the daemon on the example rules (every
 * process tracked by two of them; the host-wide CPU rule left out, see below), 99 Hz, table unwinding on, every CPU busy with a burner, and
 * `processes` processes on the host (sleepers make up the difference). Measured over `seconds`
 * after a settling minute: CPU of tail2d and everything under it, plus its BPF programs' run time;
 * then `perf record -F 99 -a -g` on the same workload for the same seconds.
 */
export async function runDaemonCostBench(processCounts = [1000, 5000], seconds = 30, settleMs = 20_000, pageFaults: PageFaultMode = 'auto'): Promise<DaemonCostRow[]> {
  const cpuCount = cpus().length;
  const burner = buildCFixture('burner');
  const burners: ChildProcess[] = Array.from({ length: cpuCount }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  const rows: DaemonCostRow[] = [];
  try {
    for (const target of processCounts) {
      await sleep(2000); // the previous row's sleepers gone
      const sleepers = startSleepers(Math.max(0, target - countProcesses()));
      const dir = mkdtempSync('/tmp/tail2-daemon-cost-');
      const port = await freePort();
      // The example rules but the host-wide CPU one: with every CPU busy it fires by design, and a
      // capture is not the steady state measured here (bench latency and memory measure captures).
      const example = parse(readFileSync(join(repoRoot, 'config', 'rules.example.yaml'), 'utf8')) as { rules: { name: string }[] };
      writeFileSync(join(dir, 'rules.yaml'), stringify({ rules: example.rules.filter((rule) => rule.name !== 'host-cpu-saturated') }));
      writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${port}" }\nrules_file: rules.yaml\nsampling: { frequency: 99, unwind: auto, page_faults: { mode: ${pageFaults} } }\n`);
      const [node, ...args] = tail2dCommand(join(dir, 'tail2.yaml'));
      const daemon = spawn(node, args, { stdio: 'ignore' });
      const pid = daemon.pid!;
      try {
        for (let i = 0; i < 150; i++) {
          if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
          await sleep(200);
        }
        await sleep(settleMs);
        const processes = countProcesses();
        const earlyRoundsBefore = await earlyRoundsOf(port);
        const before = familyTicks(pid);
        const bpfBefore = bpfRunTimeNs(before.keys());
        await sleep(seconds * 1000);
        const after = familyTicks(pid);
        const bpfAfter = bpfRunTimeNs(after.keys());
        let ticks = 0;
        let redisTicks = 0;
        for (const [task, now] of after) {
          const spent = now.ticks - (before.get(task)?.ticks ?? 0);
          ticks += spent;
          if (now.comm.startsWith('redis')) redisTicks += spent;
        }
        const daemonCpuSeconds = ticks / 100;
        const bpfSeconds = (bpfAfter - bpfBefore) / 1e9;
        const rssBytes = rssOf(pid);
        const earlyRounds = (await earlyRoundsOf(port)) - earlyRoundsBefore;
        daemon.kill('SIGTERM');
        await new Promise((resolve) => daemon.once('exit', resolve));
        const perf = runMeasured(['perf', 'record', '-F', '99', '-a', '-g', '-o', '/tmp/tail2-bench-perf.data', '--', 'sleep', String(seconds)]);
        const perCpu = (cpuSeconds: number) => (cpuSeconds / seconds / cpuCount) * 100;
        rows.push({
          processes,
          seconds,
          cpus: cpuCount,
          daemonCpuSeconds,
          redisCpuSeconds: redisTicks / 100,
          bpfSeconds,
          percentPerCpu: perCpu(daemonCpuSeconds + bpfSeconds),
          perfPercentPerCpu: perCpu(perf.cpuSeconds),
          perfCpuSeconds: perf.cpuSeconds,
          rssBytes,
          earlyRounds,
        });
      } finally {
        if (daemon.exitCode === null) daemon.kill('SIGKILL');
        try {
          process.kill(-sleepers.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    for (const b of burners) b.kill('SIGKILL');
    rmSync('/tmp/tail2-bench-perf.data', { force: true });
  }
  return rows;
}
