import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFolded } from '../../daemon/formats/folded.js';
import { optimizedBuilds } from '../../harness/fixture-programs.js';
import { chainReport, describeStacks, rootReport, stacksFromFolded, type CountedStack } from '../../harness/unwind-analysis.js';
import { UNWIND_FIXTURES } from '../../harness/unwind-fixtures.js';
import { startPython, startUnwindFixture, startXz, type UnwindWorkload } from '../../harness/unwind-workloads.js';
import { describeChain, matchesChain, userFrames } from '../../harness/stack-chain.js';
import { fixtureSources, startCli, startFixture, testOutput } from '../helpers/fixtures.js';

// Issue 13's acceptance test: user stacks unwound by the real BPF sampler through `tail2 record
// --pid` (default unwinding), checked frame by frame against the chains each fixture declares in
// harness/unwind-fixtures.ts. Each expectation was checked against `perf record --call-graph dwarf`
// on the same programs (bench/unwind-bench.ts prints perf's figures beside tail2's).
const out = join(testOutput, 'unwind');
/** A few seconds at 199 Hz: ~400 samples of one busy thread, so 99% leaves room for 4 strays. */
const RECORD_ARGS = ['-d', '2s', '-F', '199'];

/** Records `workload` into `name`.folded and returns its stacks. */
async function record(workload: UnwindWorkload, name: string): Promise<CountedStack[]> {
  const file = join(out, `${name.replace(/[^\w.-]+/g, '_')}.folded`);
  const recorder = startCli(['record', '--pid', String(workload.pid), ...RECORD_ARGS, '-o', file]);
  await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('sampling');
  await workload.drive();
  const result = await recorder.done;
  expect(result.code, result.stderr).toBe(0);
  return stacksFromFolded(parseFolded(readFileSync(file, 'utf8')));
}

describe('user stacks unwound in BPF (issue 13)', () => {
  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
  });

  afterAll(() => {
    // Detaching must leave no program behind.
    expect(execFileSync('bpftool', ['prog', 'show']).toString()).not.toContain('sample_stack');
  });

  describe.each(optimizedBuilds)('fixtures built -O2 %s', (build) => {
    it.each(UNWIND_FIXTURES.map((fixture) => [fixture.name, fixture] as const))('%s: ≥ 99%% of samples carry the full chain down to main', async (_name, fixture) => {
      const workload = startUnwindFixture(fixture, build);
      let stacks: CountedStack[];
      try {
        await workload.ready;
        stacks = await record(workload, workload.name);
      } finally {
        workload.stop();
      }
      const report = chainReport(stacks, fixture);
      const chains = fixture.chains.map((chain) => `  ${describeChain(chain)}`).join('\n');
      expect(report.samples, `${workload.name}: samples`).toBeGreaterThan(200);
      expect(
        report.matched / report.samples,
        `${workload.name} (${fixture.exercises}): ${report.matched} of ${report.samples} samples carry one of\n${chains}\nThe commonest others:\n${describeStacks(report.worstUnmatched)}`,
      ).toBeGreaterThanOrEqual(0.99);
      if (fixture.required) {
        // The fixture did what it is for (the samples are in the vDSO, the library …), so the
        // chains above were not met by samples that never went there.
        expect(report.required / report.samples, `${workload.name}: share of ${fixture.required.what}`).toBeGreaterThanOrEqual(fixture.required.minShare);
      }
    });
  });

  it.each([
    ['xz -6 (Debian, compressing random data)', startXz],
    ['python3 (Debian, a json + re loop)', startPython],
  ] as const)('%s: ≥ 98%% of samples reach their thread root', async (_name, start) => {
    const workload = start();
    let stacks: CountedStack[];
    try {
      await workload.ready;
      stacks = await record(workload, workload.name);
    } finally {
      workload.stop();
    }
    const report = rootReport(stacks);
    expect(report.samples, `${workload.name}: samples`).toBeGreaterThan(200);
    expect(
      report.reachedRoot / report.samples,
      `${workload.name}: ${report.reachedRoot} of ${report.samples} samples reach _start, __libc_start_* or start_thread/clone3 (mean user depth ${report.meanUserDepth.toFixed(1)}). The commonest others:\n${describeStacks(report.worstUnrooted)}`,
    ).toBeGreaterThanOrEqual(0.98);
  });

  it('a Node.js process run with --perf-basic-prof: JavaScript, node and libc frames intact down to main', async () => {
    const perfMap = (pid: number) => `/tmp/perf-${pid}.map`;
    const child = startFixture(process.execPath, ['--perf-basic-prof', join(fixtureSources, 'js-burner.js'), '30']);
    const workload: UnwindWorkload = { name: 'node js-burner', child, pid: child.pid!, ready: Promise.resolve(), drive: async () => {}, stop: () => child.kill('SIGKILL') };
    let stacks: CountedStack[];
    try {
      // V8 has compiled the hot function once it names it in the perf map.
      await expect.poll(() => (existsSync(perfMap(child.pid!)) ? readFileSync(perfMap(child.pid!), 'utf8') : ''), { timeout: 30_000 }).toContain('tail2HotJavaScriptFunction');
      stacks = await record(workload, 'node');
    } finally {
      workload.stop();
      rmSync(perfMap(child.pid!), { force: true });
    }
    // The main thread's samples in the hot function: JIT frames on top of node's own C++ frames
    // (V8's entry into JavaScript), on top of main and the C library's start-up.
    const hot = stacks.filter((stack) => stack.frames.includes('tail2HotJavaScriptFunction_[j]'));
    const hotSamples = hot.reduce((sum, stack) => sum + stack.count, 0);
    const total = stacks.reduce((sum, stack) => sum + stack.count, 0);
    expect(hotSamples / total, 'share of samples in tail2HotJavaScriptFunction').toBeGreaterThan(0.5);
    const intact = (frames: string[]) => {
      const user = userFrames(frames);
      const firstJs = user.findIndex((name) => name.endsWith('_[j]'));
      return (
        matchesChain(user.slice(0, user.indexOf('main') + 1), [{ frame: /^(_start|__libc_start_main|__libc_start_main_impl)$/, min: 0, max: 2 }, { frame: /^__libc_start_call_main$/, min: 1, max: 1 }, { frame: /^main$/, min: 1, max: 1 }], 'main') ||
        false
      ) && firstJs > user.indexOf('main') + 1 && user.slice(user.indexOf('main') + 1, firstJs).some((name) => /^(node|v8)::/.test(name));
    };
    const intactSamples = hot.filter((stack) => intact(stack.frames)).reduce((sum, stack) => sum + stack.count, 0);
    expect(
      intactSamples / hotSamples,
      `${intactSamples} of ${hotSamples} samples in tail2HotJavaScriptFunction have __libc_start_call_main;main;node::…;…_[j]. The others:\n${describeStacks(hot.filter((stack) => !intact(stack.frames)).slice(0, 5))}`,
    ).toBeGreaterThanOrEqual(0.95);
  });
});
