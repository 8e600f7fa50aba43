import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { MetricCollector } from '../daemon/metrics/metric-collector.js';

export interface CollectorBenchOptions {
  /** Idle processes to add to the host. @defaultValue 1000 */
  processes?: number;
  /** Timed collect() rounds after the first. @defaultValue 10 */
  rounds?: number;
  /** Pause between rounds: the daemon collects once a second, and a round after a pause costs more than back to back (colder caches). @defaultValue 1000 */
  intervalMs?: number;
}

export interface CollectorBenchResult {
  /** Processes the collector tracked (the sleepers plus what already ran). */
  processes: number;
  cgroups: number;
  rounds: number;
  /** The first collect(): every process new, command lines read, fds opened. */
  firstRoundMs: number;
  /** Wall ms per steady round. */
  msPerRound: number;
  /** CPU ms (user + system) per steady round. */
  cpuMsPerRound: number;
  readingsPerRound: number;
  /** The same rounds with per-process CPU and RSS from /proc/PID/stat files instead of the BPF task iterator. */
  procMsPerRound: number;
  procCpuMsPerRound: number;
  /** Where the measured collector read processes from (`proc` when the iterator could not load). */
  source: 'task-iterator' | 'proc';
  /** Baselines in the same run, per round: only reading every /proc/PID/stat, no parsing. */
  baselineReadFileSyncMs: number;
  baselineOpenReadCloseMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pids(): string[] {
  return readdirSync('/proc').filter((name) => name.charCodeAt(0) >= 0x31 && name.charCodeAt(0) <= 0x39);
}

// What a plain collector would do per round: readFileSync each stat file.
function readFileSyncRound(): void {
  for (const pid of pids()) {
    try {
      readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      // exited
    }
  }
}

// open + read into a reused buffer + close: the collector's fallback past its fd budget.
function openReadCloseRound(buffer: Buffer): void {
  for (const pid of pids()) {
    try {
      const fd = openSync(`/proc/${pid}/stat`, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      // exited
    }
  }
}

function timed(rounds: number, run: () => void): number {
  const started = performance.now();
  for (let i = 0; i < rounds; i++) run();
  return (performance.now() - started) / rounds;
}

/**
 * The metric collector's cost on a host with `processes` more idle processes: wall and CPU time
 * of collect() per round with the BPF task iterator, against the same collector on /proc/PID/stat
 * files and against reading the same stat files naively, in the same run.
 */
export async function runCollectorBench(options: CollectorBenchOptions = {}): Promise<CollectorBenchResult> {
  const count = options.processes ?? 1000;
  const rounds = options.rounds ?? 10;
  const intervalMs = options.intervalMs ?? 1000;
  const sleepers: ChildProcess[] = [];
  const collector = new MetricCollector();
  const procCollector = new MetricCollector({ taskIterator: false });
  try {
    for (let i = 0; i < count; i++) sleepers.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
    await Promise.all(sleepers.map((child) => once(child, 'spawn')));
    await sleep(300 + count / 10); // let every child finish exec(), so each is `sleep` when first read

    const started = performance.now();
    collector.collect(Date.now());
    const firstRoundMs = performance.now() - started;
    procCollector.collect(Date.now());

    // The two collectors take turns in each round, so both see the same host.
    let wallMs = 0;
    let cpuMs = 0;
    let procWallMs = 0;
    let procCpuMs = 0;
    let readings = 0;
    const measure = (run: () => void): [number, number] => {
      const cpu = process.cpuUsage();
      const at = performance.now();
      run();
      const used = process.cpuUsage(cpu);
      return [performance.now() - at, (used.user + used.system) / 1000];
    };
    for (let round = 0; round < rounds; round++) {
      await sleep(intervalMs);
      const [wall, cpu] = measure(() => (readings += collector.collect(Date.now()).readings.length));
      wallMs += wall;
      cpuMs += cpu;
      const [procWall, procCpu] = measure(() => procCollector.collect(Date.now()));
      procWallMs += procWall;
      procCpuMs += procCpu;
    }
    const tracked = collector.tracked();

    const buffer = Buffer.allocUnsafe(4096);
    readFileSyncRound();
    openReadCloseRound(buffer);
    const baselineReadFileSyncMs = timed(rounds, readFileSyncRound);
    const baselineOpenReadCloseMs = timed(rounds, () => openReadCloseRound(buffer));

    return {
      processes: tracked.processes,
      cgroups: tracked.cgroups,
      rounds,
      firstRoundMs,
      msPerRound: wallMs / rounds,
      cpuMsPerRound: cpuMs / rounds,
      readingsPerRound: readings / rounds,
      procMsPerRound: procWallMs / rounds,
      procCpuMsPerRound: procCpuMs / rounds,
      source: tracked.processSource,
      baselineReadFileSyncMs,
      baselineOpenReadCloseMs,
    };
  } finally {
    collector.close();
    procCollector.close();
    const exits = sleepers.filter((child) => child.pid !== undefined && child.exitCode === null && child.signalCode === null).map((child) => once(child, 'exit'));
    for (const child of sleepers) child.kill('SIGKILL');
    await Promise.all(exits);
  }
}
