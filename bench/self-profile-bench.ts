import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { daemonNodeFlags, tail2dPath } from '../harness/daemon-command.js';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';
import { freePort } from './free-port.js';

export interface SelfProfileResult {
  /** Samples of tail2d tail2 recorded, at `frequency` Hz, over `seconds`. */
  samples: number;
  seconds: number;
  frequency: number;
  /** Where the flamegraph and the folded stacks were written. */
  svgPath: string;
  foldedPath: string;
  /** Functions with the most samples of their own (self), and under which the most samples are (total), as shares. */
  topSelf: { name: string; share: number }[];
  topTotal: { name: string; share: number }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Functions by self and total share from folded stacks ("a;b;c N" lines, root first).
function shares(folded: string, top: number): Pick<SelfProfileResult, 'samples' | 'topSelf' | 'topTotal'> {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let samples = 0;
  for (const line of folded.split('\n')) {
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const count = Number(line.slice(space + 1));
    const frames = line.slice(0, space).split(';');
    samples += count;
    self.set(frames[frames.length - 1], (self.get(frames[frames.length - 1]) ?? 0) + count);
    for (const frame of new Set(frames)) total.set(frame, (total.get(frame) ?? 0) + count);
  }
  const rank = (counts: Map<string, number>, skip: (name: string) => boolean) =>
    [...counts]
      .filter(([name]) => !skip(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => ({ name, share: count / samples }));
  // Total share: the frames every stack has (the process, the thread, _start, main, the event loop) say nothing.
  return { samples, topSelf: rank(self, () => false), topTotal: rank(total, (name) => (total.get(name) ?? 0) / samples > 0.9) };
}

/**
 * tail2d profiled by tail2 itself: the daemon on the example rules with `processes` processes on
 * the host and every CPU busy (as the daemon-cost benchmark runs it), its JavaScript named through
 * V8's perf map (`--perf-basic-prof`), recorded with `tail2 record --pid` at 999 Hz for `seconds`
 * after a settling period. Writes bench/tail2d-profile.svg and test-output/tail2d-profile.folded.
 */
export async function runSelfProfileBench(processes = 1000, seconds = 60, settleMs = 20_000): Promise<SelfProfileResult> {
  const frequency = 999;
  const burner = buildCFixture('burner');
  const burners: ChildProcess[] = Array.from({ length: cpus().length }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
  const sleepers = spawn('bash', ['-c', `for i in $(seq ${processes}); do sleep 1d & done; wait`], { stdio: 'ignore', detached: true });
  const dir = mkdtempSync('/tmp/tail2-self-profile-');
  const svgPath = join(repoRoot, 'bench', 'tail2d-profile.svg');
  const foldedPath = join(repoRoot, 'test-output', 'tail2d-profile.folded'); // 1.4 MB: not kept in the repository
  const port = await freePort();
  writeFileSync(join(dir, 'rules.yaml'), readFileSync(join(repoRoot, 'config', 'rules.example.yaml'), 'utf8'));
  writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${port}" }\nrules_file: rules.yaml\n`);
  const daemon = spawn(process.execPath, [...daemonNodeFlags, '--perf-basic-prof', tail2dPath, '--config', join(dir, 'tail2.yaml')], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 150; i++) {
      if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
      await sleep(200);
    }
    await sleep(settleMs);
    const tail2 = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2.js');
    for (const output of [foldedPath, svgPath]) rmSync(output, { force: true });
    execFileSync(process.execPath, [tail2, 'record', '--pid', String(daemon.pid), '-F', String(frequency), '-d', `${seconds}s`, '-o', foldedPath], { stdio: 'ignore' });
    // The flamegraph is a second recording of the same steady state (tail2 record writes one format per run).
    execFileSync(process.execPath, [tail2, 'record', '--pid', String(daemon.pid), '-F', String(frequency), '-d', `${Math.min(seconds, 30)}s`, '-o', svgPath], { stdio: 'ignore' });
    return { ...shares(readFileSync(foldedPath, 'utf8'), 12), seconds, frequency, svgPath, foldedPath };
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.once('exit', resolve));
    try {
      process.kill(-sleepers.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    for (const b of burners) b.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
