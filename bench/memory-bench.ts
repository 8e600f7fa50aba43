import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { MemoryBreakdown } from '../daemon/model/daemon-status.js';
import { tail2dCommand } from '../harness/daemon-command.js';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';
import { freePort } from './free-port.js';

/** One reading of tail2d's memory. */
export interface MemoryReading {
  /** VmRSS from /proc (bytes). */
  rssBytes: number;
  /** VmHWM: the highest RSS so far (bytes). */
  peakRssBytes: number;
  /** Processes on the host when read. */
  processes: number;
  /** What /api/status said of it at the same time. */
  breakdown: MemoryBreakdown;
}

export interface MemoryBenchResult {
  /** Settled, on the example rules, on a quiet host (no load added). */
  idle: MemoryReading;
  /** After `minutes` at 99 Hz with `processes` processes on the host and every CPU busy. */
  loaded: MemoryReading;
  minutes: number;
  /** Incidents the example rules wrote meanwhile (the burners keep the CPUs saturated). */
  incidents: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function statusField(pid: number, field: string): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

function countProcesses(): number {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
}

/**
 * tail2d's memory as an operator would see it: the daemon on the example rules
 * (config/rules.example.yaml), 99 Hz, table unwinding on. First idle, `settleMs` after it
 * answers; then with every CPU busy (a burner on each) and `processes` on the host (sleepers in
 * one process group make up the difference) for `minutes`, read at the end. Each reading comes
 * with the breakdown of /api/status, so a figure that grows says which part grew.
 */
export async function runMemoryBench(minutes = 10, processes = 1000, settleMs = 20_000): Promise<MemoryBenchResult> {
  const dir = mkdtempSync('/tmp/tail2-memory-bench-');
  const port = await freePort();
  writeFileSync(join(dir, 'rules.yaml'), readFileSync(join(repoRoot, 'config', 'rules.example.yaml'), 'utf8'));
  writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${port}" }\nrules_file: rules.yaml\nsampling: { frequency: 99, unwind: auto }\n`);
  const [node, ...args] = tail2dCommand(join(dir, 'tail2.yaml'));
  const daemon = spawn(node, args, { stdio: 'ignore' });
  const pid = daemon.pid!;
  const status = async () =>
    (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { memory: { breakdown: MemoryBreakdown }; captures: { written: number } };
  const read = async (): Promise<MemoryReading> => ({
    rssBytes: statusField(pid, 'VmRSS'),
    peakRssBytes: statusField(pid, 'VmHWM'),
    processes: countProcesses(),
    breakdown: (await status()).memory.breakdown,
  });
  let burners: ChildProcess[] = [];
  let sleepers: ChildProcess | undefined;
  try {
    for (let i = 0; i < 150; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      await sleep(200);
    }
    await sleep(settleMs);
    const idle = await read();
    const burner = buildCFixture('burner');
    burners = Array.from({ length: cpus().length }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
    const missing = Math.max(0, processes - countProcesses());
    sleepers = spawn('bash', ['-c', `for i in $(seq ${missing}); do sleep 1d & done; wait`], { stdio: 'ignore', detached: true });
    await sleep(minutes * 60_000);
    const loaded = await read();
    return { idle, loaded, minutes, incidents: (await status()).captures.written };
  } finally {
    for (const b of burners) b.kill('SIGKILL');
    try {
      if (sleepers?.pid) process.kill(-sleepers.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    daemon.kill('SIGTERM');
    await new Promise((resolve) => (daemon.exitCode === null ? daemon.once('exit', resolve) : resolve(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** The reading's RSS and its breakdown, in lines for `npm run bench memory`. */
export function formatMemoryReading(label: string, r: MemoryReading, targetBytes: number): string[] {
  const { rss, v8_heap: heap, held } = r.breakdown;
  const ok = r.rssBytes <= targetBytes ? 'meets target' : 'MISSES target';
  return [
    `  ${label}: RSS ${mb(r.rssBytes)} (peak ${mb(r.peakRssBytes)}, ${r.processes} processes on the host) — target ≤ ${mb(targetBytes)}: ${ok}`,
    `    V8 heap ${mb(rss.v8_heap_bytes)} (${mb(heap.used_bytes)} used of ${mb(heap.total_bytes)}), array buffers ${mb(rss.array_buffers_bytes)}, other external ${mb(rss.external_bytes)}, ` +
      `BPF maps ${mb(rss.bpf_maps_bytes)}, code and libraries ${mb(rss.code_bytes)}, not accounted ${mb(rss.unaccounted_bytes)}`,
    `    held: samples ${mb(held.samples_bytes)}, stacks ${mb(held.stacks_bytes)}, processes ${mb(held.processes_bytes)}, metric history ${mb(held.metric_history_bytes)}, ` +
      `rule instances ${mb(held.rule_instances_bytes)}, collectors ${mb(held.collectors_bytes)}, unwind tables ${mb(held.unwind_tables_bytes)}; tail2-reader processes ${mb(r.breakdown.symbol_readers_rss_bytes)} of their own`,
  ];
}
