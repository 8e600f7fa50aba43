import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRecord } from '../daemon/cli/record-command.js';
import { parseFolded } from '../daemon/formats/folded.js';
import { buildOptimizedCFixture } from '../harness/fixture-programs.js';
import { buildCFixture, testOutput } from './helpers/fixtures.js';
import { weightWhere } from './helpers/folded-weight.js';

// The allocation profile (bpf/allocations.h): session uprobes on the allocator a real process maps,
// sampled in BPF, followed to their frees, through `tail2 record --profile malloc|inuse`.
const out = join(testOutput, 'allocation-profile');

/** A heap-leaker (test/fixtures/programs/heap-leaker.c) and the bytes it says it leaked, on demand. */
class HeapLeaker {
  readonly child: ChildProcess;
  private lines: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(binary: string, leakKibPerSecond: number, churnKibPerSecond: number, env?: NodeJS.ProcessEnv) {
    this.child = spawn(binary, [String(leakKibPerSecond), String(churnKibPerSecond)], { stdio: ['ignore', 'pipe', 'inherit'], env: env ? { ...process.env, ...env } : undefined });
    let partial = '';
    this.child.stdout!.on('data', (data: Buffer) => {
      partial += data.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      this.lines.push(...lines);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next line it prints that matches. */
  async line(pattern: RegExp): Promise<string> {
    for (;;) {
      const at = this.lines.findIndex((line) => pattern.test(line));
      if (at >= 0) return this.lines.splice(0, at + 1)[at];
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** The bytes leak_sessions() holds so far, as the fixture counts them. */
  async leaked(): Promise<number> {
    this.child.kill('SIGUSR1');
    return Number((await this.line(/^leaked /)).split(' ')[1]);
  }
}


const quiet = (): void => undefined;

describe('the allocation profile', () => {
  const leakers: HeapLeaker[] = [];

  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
  });

  afterAll(() => {
    for (const leaker of leakers) leaker.child.kill('SIGKILL');
  });

  it('names the leak path with the outstanding bytes, estimated within the fixture’s own count, in a binary without frame pointers', async () => {
    // 4 MiB/s kept by leak_sessions, 4 MiB/s churned through every allocator entry point (which
    // holds its last 8 blocks, 512 KiB, at any time: ~3% of what 4 s leak).
    const leaker = new HeapLeaker(buildOptimizedCFixture('heap-leaker', 'nofp'), 4096, 4096);
    leakers.push(leaker);
    await leaker.line(/^ready$/);
    const output = join(out, 'inuse.folded');
    // The fixture's own count, read as the probes start and as the sampler stops (a round, 100 ms,
    // late both times: the difference is the leak while probed).
    let stop = (): void => undefined;
    const interrupted = new Promise<void>((resolve) => (stop = resolve));
    let leakedBefore: Promise<number> | undefined;
    let leakedAfter: Promise<number> | undefined;
    const summary = await runRecord({
      durationMs: 60_000,
      frequency: 49,
      output,
      pid: leaker.pid,
      profile: 'inuse',
      // A smaller mean than the default: more samples, so the estimate's spread stays narrow.
      allocationMeanBytes: 64 * 1024,
      interrupted,
      log: (line) => {
        if (!line.includes('sampling pid')) return;
        leakedBefore = leaker.leaked();
        setTimeout(() => {
          leakedAfter = leaker.leaked();
          stop();
        }, 4000);
      },
    });
    const leakedDuring = (await leakedAfter!) - (await leakedBefore!);
    const folded = parseFolded(readFileSync(output, 'utf8'));
    const total = weightWhere(folded, () => true);
    const leakPath = weightWhere(folded, (stack) => stack.includes('leak_sessions'));
    expect(summary.samples).toBeGreaterThan(20);
    // Churned blocks are freed within a round (8 of 64 KiB are held): what is outstanding is the leak.
    expect(leakPath / total).toBeGreaterThanOrEqual(0.9);
    // Each sample weighs size/p: the sum estimates the bytes really leaked (~250 samples: ±6%).
    expect(leakPath / leakedDuring).toBeGreaterThan(0.6);
    expect(leakPath / leakedDuring).toBeLessThan(1.6);
    // The walk starts in the allocator: its frame is the leaf, the fixture's path below it.
    expect([...folded.keys()].filter((stack) => stack.includes('leak_sessions'))).toEqual([expect.stringMatching(/;_start;.*;main;leak_sessions;[^;]*malloc$/)]);
  });

  it('weighs what each path allocated, through every entry point, each allocation once', async () => {
    const leaker = new HeapLeaker(buildCFixture('heap-leaker'), 512, 16384);
    leakers.push(leaker);
    await leaker.line(/^ready$/);
    const output = join(out, 'malloc.folded');
    await runRecord({ durationMs: 4000, frequency: 49, output, pid: leaker.pid, profile: 'malloc', allocationMeanBytes: 128 * 1024, log: quiet });
    const folded = parseFolded(readFileSync(output, 'utf8'));
    const total = weightWhere(folded, () => true);
    const churn = weightWhere(folded, (stack) => stack.includes(';churn_buffers;'));
    // 16 MiB/s churned against 0.5 MiB/s leaked.
    expect(churn / total).toBeGreaterThan(0.8);
    const leaves = new Set([...folded.keys()].filter((stack) => stack.includes(';churn_one;')).map((stack) => stack.slice(stack.lastIndexOf(';') + 1)));
    // malloc, calloc, realloc, posix_memalign and aligned_alloc (glibc's memalign) each probed.
    for (const entry of [/^(__libc_)?malloc$/, /^(__libc_)?calloc$/, /^(__libc_)?realloc$/, /^posix_memalign$/, /^(__libc_)?memalign$/]) {
      expect([...leaves].filter((leaf) => entry.test(leaf)), String(entry)).toHaveLength(1);
    }
    // The seven ways churn_one allocates take turns, 64 KiB each: each weighs a seventh. The two
    // that glibc serves by calling malloc inside are counted there, once (twice would be 2/7).
    const nested = ['churn_realloc_null', 'churn_memalign16'].map((name) => weightWhere(folded, (stack) => stack.includes(`;${name};`)) / churn);
    for (const share of nested) {
      expect(share).toBeGreaterThan(0.5 / 7);
      expect(share).toBeLessThan(1.6 / 7);
    }
  });

  it('probes a Python interpreter through the libc it maps', async () => {
    const python = spawn('python3', ['-c', 'import sys, time\nkept = []\nprint("ready", flush=True)\nwhile True:\n    kept.append(bytearray(200000))\n    time.sleep(0.01)\n'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise((resolve) => python.stdout!.once('data', resolve));
      const output = join(out, 'python.folded');
      const logged: string[] = [];
      const summary = await runRecord({ durationMs: 2000, frequency: 49, output, pid: python.pid!, profile: 'inuse', log: (line) => logged.push(line) });
      expect(logged.join('\n')).toMatch(/probing malloc, free, .* in \/usr\/lib\/x86_64-linux-gnu\/libc\.so\.6/);
      // ~20 MB/s kept, one sample per 512 KiB on average.
      expect(summary.samples).toBeGreaterThan(10);
      expect(weightWhere(parseFolded(readFileSync(output, 'utf8')), (stack) => stack.startsWith('python3'))).toBeGreaterThan(5 << 20);
    } finally {
      python.kill('SIGKILL');
    }
  });

  it('probes jemalloc where a process preloads it (Debian’s, which redis-server links)', async () => {
    const jemalloc = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
    // The leak alone (no churn): what is outstanding is the leak path, whatever the sampling noise.
    const leaker = new HeapLeaker(buildCFixture('heap-leaker'), 2048, 0, { LD_PRELOAD: jemalloc });
    leakers.push(leaker);
    await leaker.line(/^ready$/);
    const output = join(out, 'jemalloc.folded');
    const logged: string[] = [];
    const summary = await runRecord({ durationMs: 3000, frequency: 49, output, pid: leaker.pid, profile: 'inuse', allocationMeanBytes: 64 * 1024, log: (line) => logged.push(line) });
    expect(logged.join('\n')).toContain(`in ${jemalloc}`);
    expect(summary.samples).toBeGreaterThan(10);
    const folded = parseFolded(readFileSync(output, 'utf8'));
    expect(weightWhere(folded, (stack) => stack.includes(';leak_sessions;')) / weightWhere(folded, () => true)).toBeGreaterThanOrEqual(0.9);
  });

  it('probes the allocator linked into a static binary', async () => {
    // The leak alone (no churn, whose 8 held blocks are sampling noise against the 90%).
    const leaker = new HeapLeaker(buildCFixture('heap-leaker', ['-static'], 'heap-leaker-static'), 2048, 0);
    leakers.push(leaker);
    await leaker.line(/^ready$/);
    const output = join(out, 'static.folded');
    const logged: string[] = [];
    const summary = await runRecord({ durationMs: 3000, frequency: 49, output, pid: leaker.pid, profile: 'inuse', allocationMeanBytes: 64 * 1024, log: (line) => logged.push(line) });
    // No libc is mapped: the executable itself defines malloc and friends.
    expect(logged.join('\n')).toMatch(/probing malloc, free, calloc, realloc, .* in \/.*\/heap-leaker-static$/m);
    expect(summary.samples).toBeGreaterThan(10);
    const folded = parseFolded(readFileSync(output, 'utf8'));
    expect(weightWhere(folded, (stack) => stack.includes(';leak_sessions;')) / weightWhere(folded, () => true)).toBeGreaterThanOrEqual(0.9);
  });

  it('says why it cannot probe a stripped static binary, and records nothing', async () => {
    const binary = buildCFixture('heap-leaker', ['-static', '-s'], 'heap-leaker-static-stripped');
    const leaker = new HeapLeaker(binary, 64, 64);
    leakers.push(leaker);
    await leaker.line(/^ready$/);
    await expect(runRecord({ durationMs: 1000, frequency: 49, output: join(out, 'static.folded'), pid: leaker.pid, profile: 'malloc', log: quiet })).rejects.toThrow(
      new RegExp(`cannot probe malloc in PID ${leaker.pid}: no mapped file defines malloc and free \\(looked in .*heap-leaker-static-stripped\\)`),
    );
  });

  it('needs a process', async () => {
    await expect(runRecord({ durationMs: 1000, frequency: 49, output: join(out, 'none.folded'), profile: 'inuse', log: quiet })).rejects.toThrow('--profile inuse needs --pid');
  });
});
