import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFolded } from '../../daemon/formats/folded.js';
import { optimizedBuilds } from '../../harness/fixture-programs.js';
import { describeChain, userFrames } from '../../harness/stack-chain.js';
import { chainReport, describeStacks, rootReport, stacksFromFolded, type CountedStack } from '../../harness/unwind-analysis.js';
import { THREAD_ROOT, UNWIND_FIXTURES } from '../../harness/unwind-fixtures.js';
import { startPython, startUnwindFixture, startXz, type UnwindWorkload } from '../../harness/unwind-workloads.js';
import { fixtureSources, startCli, startFixture, testOutput } from '../helpers/fixtures.js';

// Issue 13's acceptance test: user stacks unwound by the real BPF sampler through `tail2 record
// --pid` (default unwinding), checked frame by frame against the chains each fixture declares in
// harness/unwind-fixtures.ts. `npm run bench -- unwind` runs the same workloads under
// `perf record --call-graph dwarf` beside tail2: perf meets every expectation below.
const out = join(testOutput, 'unwind');
/** 3 s at 199 Hz: ~600 samples of one busy thread, so 99% leaves room for a few strays. */
const RECORD_ARGS = ['-d', '3s', '-F', '199'];
/** Fewer samples than this means the recording itself failed (or the machine is starved). */
const MIN_SAMPLES = 100;

/** Records `workload` into test-output/unwind/`name`.folded and returns its stacks. */
async function record(workload: UnwindWorkload, name: string): Promise<CountedStack[]> {
  const file = join(out, `${name.replace(/[^\w.-]+/g, '_')}.folded`);
  const recorder = startCli(['record', '--pid', String(workload.pid), ...RECORD_ARGS, '-o', file]);
  await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('sampling');
  await workload.drive();
  const result = await recorder.done;
  expect(result.code, result.stderr).toBe(0);
  return stacksFromFolded(parseFolded(readFileSync(file, 'utf8')));
}

/** Starts a workload, records it and stops it. */
async function recordWorkload(workload: UnwindWorkload): Promise<CountedStack[]> {
  try {
    await workload.ready;
    return await record(workload, workload.name);
  } finally {
    workload.stop();
  }
}

const sum = (stacks: readonly CountedStack[]) => stacks.reduce((total, stack) => total + stack.count, 0);

describe('user stacks unwound in BPF (issue 13)', () => {
  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
  });

  for (const build of optimizedBuilds) {
    describe(`fixtures built -O2 ${build}`, () => {
      for (const fixture of UNWIND_FIXTURES) {
        it(`${fixture.name}: ≥ 99% of samples carry the full chain down to main (${fixture.exercises})`, async () => {
          const workload = startUnwindFixture(fixture, build);
          const report = chainReport(await recordWorkload(workload), fixture);
          const chains = fixture.chains.map((chain) => `  ${describeChain(chain)}`).join('\n');
          expect(report.samples, `${workload.name}: samples`).toBeGreaterThan(MIN_SAMPLES);
          expect(
            report.matched / report.samples,
            `${workload.name}: ${report.matched} of ${report.samples} samples carry one of\n${chains}\nThe commonest others:\n${describeStacks(report.worstUnmatched)}\n`,
          ).toBeGreaterThanOrEqual(0.99);
          if (fixture.required) {
            // The fixture did what it is there for (samples in the vDSO, in the library …): the
            // chains above were not met by samples that never went there.
            expect(report.required / report.samples, `${workload.name}: share of ${fixture.required.what}`).toBeGreaterThanOrEqual(fixture.required.minShare);
          }
        });
      }
    });
  }

  for (const [what, start] of [
    ['xz -6 -T2 (Debian, compressing random data)', startXz],
    ['python3 (Debian, a json + re loop)', startPython],
  ] as const) {
    it(`${what}: ≥ 98% of samples reach their thread root`, async () => {
      const workload = start();
      const report = rootReport(await recordWorkload(workload));
      expect(report.samples, `${workload.name}: samples`).toBeGreaterThan(MIN_SAMPLES);
      expect(
        report.reachedRoot / report.samples,
        `${workload.name}: ${report.reachedRoot} of ${report.samples} samples reach ${THREAD_ROOT.source} (mean user depth ${report.meanUserDepth.toFixed(1)}). The commonest others:\n${describeStacks(report.worstUnrooted)}\n`,
      ).toBeGreaterThanOrEqual(0.98);
    });
  }

  it('a Node.js process run with --perf-basic-prof: JavaScript, node and libc frames intact down to main', async () => {
    const perfMap = (pid: number) => `/tmp/perf-${pid}.map`;
    const child = startFixture(process.execPath, ['--perf-basic-prof', join(fixtureSources, 'js-burner.js'), '30']);
    const pid = child.pid!;
    const workload: UnwindWorkload = {
      name: 'node js-burner',
      child,
      pid,
      // V8 has compiled the hot function once it names it in the perf map.
      ready: expect.poll(() => (existsSync(perfMap(pid)) ? readFileSync(perfMap(pid), 'utf8') : ''), { timeout: 30_000 }).toContain('tail2HotJavaScriptFunction'),
      drive: async () => {},
      stop: () => child.kill('SIGKILL'),
    };
    let stacks: CountedStack[];
    try {
      stacks = await recordWorkload(workload);
    } finally {
      rmSync(perfMap(pid), { force: true });
    }
    const isHot = (name: string) => /tail2HotJavaScriptFunction.*_\[j\]$/.test(name);
    const hot = stacks.filter((stack) => stack.frames.some(isHot));
    expect(sum(hot) / sum(stacks), 'share of samples in tail2HotJavaScriptFunction').toBeGreaterThan(0.5);
    // Intact: glibc's __libc_start_call_main, then node's main (which jumps to node::Start, so
    // node::Start stands in its place), node's and V8's own C++ frames (its entry into
    // JavaScript), then JavaScript, with no frame anywhere left unnamed.
    const intact = (frames: readonly string[]) => {
      const user = userFrames(frames);
      const libc = user.indexOf('__libc_start_call_main');
      const main = user[libc + 1] ?? '';
      const firstJit = user.findIndex((name) => name.endsWith('_[j]'));
      return (
        libc >= 0 &&
        (main === 'main' || main.startsWith('node::Start(')) &&
        firstJit > libc + 1 &&
        user.slice(libc + 2, firstJit).some((name) => /^(node|v8)::/.test(name)) &&
        !user.some((name) => /^\[(unknown|[^\]]*\+0x[0-9a-f]+)\]$/.test(name))
      );
    };
    const broken = hot.filter((stack) => !intact(stack.frames)).sort((a, b) => b.count - a.count);
    expect(
      (sum(hot) - sum(broken)) / sum(hot),
      `${sum(hot) - sum(broken)} of ${sum(hot)} samples in tail2HotJavaScriptFunction run from __libc_start_call_main through node::Start and node's C++ frames into JavaScript. The others:\n${describeStacks(broken.slice(0, 5))}\n`,
    ).toBeGreaterThanOrEqual(0.95);
  });
});
