import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { tail2dCommand } from '../harness/daemon-command.js';
import { buildCFixture } from '../harness/fixture-programs.js';

export interface BurstPhase {
  name: string;
  /** tail2d's RSS just before, highest while it ran, and 10 s after (bytes). */
  beforeRss: number;
  peakRss: number;
  afterRss: number;
  /** What the memory budget counted at the end (bytes), and its limit. */
  budgetBytes: number;
  budgetMax: number;
}

export interface BurstResult {
  maxMemoryBytes: number;
  idleRss: number;
  phases: BurstPhase[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/**
 * tail2d's memory under process bursts, with rules that track every process and
 * `buffer.max_memory: 64MiB`: 200 short-lived processes with 1.4 MB command lines (Java-sized
 * classpaths), then a fork storm of 3,000 processes. RSS is read from /proc every 100 ms; the
 * baseline is the same daemon idle, in the same run.
 */
export async function runBurstBench(): Promise<BurstResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tail2-burst-'));
  const port = await freePort();
  const maxMemoryBytes = 64 * 1024 * 1024;
  writeFileSync(
    join(dir, 'rules.yaml'),
    'rules:\n  - { name: spin, metric: cpu, scope: { process: "." }, above: 95%, for: 2m }\n  - { name: leak, metric: rss_growth, scope: { process: "." }, above: 50MiB/min, for: 3m }\n',
  );
  writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${port}" }\nrules_file: rules.yaml\nbuffer: { retain: 10m, max_memory: 64MiB }\n`);
  const [node, ...daemonArgs] = tail2dCommand(join(dir, 'tail2.yaml'));
  const daemon = spawn(node, daemonArgs, { stdio: 'ignore' });
  const pid = daemon.pid!;
  const status = async () => (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { memory: { bytes: number; max_bytes: number } };
  const phases: BurstPhase[] = [];
  const phase = async (name: string, run: () => Promise<void>): Promise<void> => {
    const beforeRss = rssOf(pid);
    let peakRss = beforeRss;
    const watch = setInterval(() => (peakRss = Math.max(peakRss, rssOf(pid))), 100);
    try {
      await run();
      await sleep(10_000);
    } finally {
      clearInterval(watch);
    }
    const { memory } = await status();
    phases.push({ name, beforeRss, peakRss, afterRss: rssOf(pid), budgetBytes: memory.bytes, budgetMax: memory.max_bytes });
  };
  try {
    for (let i = 0; i < 100; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      await sleep(200);
    }
    await sleep(5000); // settled: the first collector rounds, the readers started
    const idleRss = rssOf(pid);
    const sleeper = buildCFixture('sleeper');
    await phase('200 processes with 1.4 MB command lines', async () => {
      const huge = Array.from({ length: 12 }, () => 'x'.repeat(120_000));
      const exits: Array<Promise<void>> = [];
      for (let i = 0; i < 200; i++) {
        const child = spawn(sleeper, ['3', `--classpath-${i}`, ...huge], { stdio: 'ignore' });
        exits.push(new Promise((resolve) => child.once('exit', () => resolve())));
        await sleep(25);
      }
      await Promise.all(exits);
    });
    await phase('fork storm of 3,000 short-lived processes', async () => {
      execFileSync('bash', ['-c', 'for i in $(seq 3000); do (exec -a "storm-$i" sh -c "for j in 1 2 3 4 5 6 7 8 9 10; do :; done") ; done']);
    });
    return { maxMemoryBytes, idleRss, phases };
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.on('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
