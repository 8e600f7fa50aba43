import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseFolded } from '../daemon/formats/folded.js';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';

export interface AccuracyRow {
  name: string;
  perfPercent: number;
  tail2Percent: number;
}

export interface AccuracyResult {
  rows: AccuracyRow[];
  /** Largest |tail2 − perf| over perf's top-10 self-time functions, in percentage points. */
  maxDifferencePoints: number;
  perfSamples: number;
  tail2Samples: number;
}

/** Self-time share per function from `perf report`. */
function perfSelfShares(dataFile: string): Map<string, number> {
  const report = execFileSync('perf', ['report', '-i', dataFile, '--no-children', '--sort', 'symbol', '--stdio', '-q', '-g', 'none', '--percent-limit', '0'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
  const shares = new Map<string, number>();
  for (const line of report.split('\n')) {
    const match = /^\s*([\d.]+)%\s+\[[.k]\]\s+(\S+)/.exec(line);
    if (match) shares.set(match[2], (shares.get(match[2]) ?? 0) + Number(match[1]));
  }
  return shares;
}

/** Self-time share per function from tail2's folded output: the leaf of each path. */
function tail2SelfShares(foldedFile: string): { shares: Map<string, number>; samples: number } {
  const folded = parseFolded(readFileSync(foldedFile, 'utf8'));
  const counts = new Map<string, number>();
  let total = 0;
  for (const [path, count] of folded) {
    const leaf = path.slice(path.lastIndexOf(';') + 1).replace(/_\[[kji]\]$/, '');
    counts.set(leaf, (counts.get(leaf) ?? 0) + count);
    total += count;
  }
  return { shares: new Map([...counts].map(([name, count]) => [name, (count / total) * 100])), samples: total };
}

/**
 * Runs the mixer fixture (twelve functions with known, different shares) and profiles it with
 * `perf record -F 99 -g` and `tail2 record` at the same time; compares perf's top-10 self-time
 * functions with tail2's shares of the same functions.
 */
export async function runAccuracyBench(seconds = 15): Promise<AccuracyResult> {
  const mixer = buildCFixture('mixer');
  const workload = spawn(mixer, [String(seconds + 5)], { stdio: 'ignore' });
  try {
    const perfData = '/tmp/tail2-bench-accuracy.data';
    const folded = '/tmp/tail2-bench-accuracy.folded';
    const exited = (child: ChildProcess) => new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const perf = spawn('perf', ['record', '-F', '99', '-g', '-p', String(workload.pid), '-o', perfData, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    const recorder = spawn(process.execPath, [join(repoRoot, 'dist', 'daemon', 'cli', 'tail2.js'), 'record', '--pid', String(workload.pid), '-d', `${seconds}s`, '-o', folded], {
      stdio: 'ignore',
    });
    await Promise.all([exited(perf), exited(recorder)]);
    const perfShares = perfSelfShares(perfData);
    const tail2 = tail2SelfShares(folded);
    const top = [...perfShares].sort((a, b) => b[1] - a[1]).slice(0, 10);
    const rows = top.map(([name, perfPercent]) => ({ name, perfPercent, tail2Percent: tail2.shares.get(name) ?? 0 }));
    // One line per sample with only the comm field: the sample count perf's shares are taken over.
    const perfSamples = execFileSync('perf', ['script', '-i', perfData, '-F', 'comm'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n').length;
    return {
      rows,
      maxDifferencePoints: Math.max(...rows.map((row) => Math.abs(row.perfPercent - row.tail2Percent))),
      perfSamples,
      tail2Samples: tail2.samples,
    };
  } finally {
    workload.kill('SIGKILL');
  }
}
