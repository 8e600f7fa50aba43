import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecords, type SyntheticRecord } from '../../harness/synthetic-records.js';
import { RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import type { MetricInstance, MetricReading } from '../../daemon/model/metrics.js';
import { BatchIngest } from '../../daemon/profile/batch-ingest.js';
import { sampledCpu, type SampledCpu } from '../../daemon/profile/sampled-cpu.js';
import { createStackTables } from '../../daemon/profile/stack-tables.js';
import { EarlyRounds } from '../../daemon/tail2d/early-rounds.js';
import { makeRule } from '../triggers/rule-fixture.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture } from '../helpers/fixtures.js';

const HOST = { cpus: 2 };
const proc = (pid: number, comm = `p${pid}`): MetricInstance => ({ kind: 'process', pid, startTime: 1, comm, cmdline: '' });
const cpu = (instance: MetricInstance, value: number): MetricReading => ({ metric: 'cpu', instance, value, timeMs: 0 });
/** An estimate from samples: cores per pid (each named `p<pid>` by its samples), and the host's busy cores. */
const sampled = (byPid: Record<number, number>, busyCores = 0, comms: Record<number, string> = {}): SampledCpu => ({
  byPid: new Map(Object.entries(byPid).map(([pid, cores]) => [Number(pid), cores])),
  busyCores,
  comms: new Map(Object.keys(byPid).map((pid) => [Number(pid), comms[Number(pid)] ?? `p${pid}`])),
});
const NONE = new Set<number>();
/** The collectors know every pid below 100 (as `p<pid>`), none from 100 on (not read by a round yet). */
const known = (pid: number): MetricInstance | undefined => (pid < 100 ? proc(pid) : undefined);
const due = (early: EarlyRounds, estimate: SampledCpu, own: ReadonlySet<number> = NONE) => early.due(estimate, own, known);
// A process rule at 95% of a core (0.95 cores) and a host rule at 90% of both CPUs (1.8 cores).
const spinning = makeRule({ name: 'spin', scope: { kind: 'process', pattern: /./ }, threshold: { value: 95, unit: 'percent', text: '95%' } });
const saturated = makeRule({ name: 'host' });

/** A regular round that read `readings`. */
function regularRound(rounds: EarlyRounds, readings: MetricReading[]): void {
  rounds.observe(readings, false);
}

describe('EarlyRounds', () => {
  it('asks for a round when a process rises towards a process cpu rule, not while it holds steady', () => {
    const early = new EarlyRounds([spinning], HOST);
    expect(early.watching).toBe(true);
    regularRound(early, [cpu(proc(7), 0.02)]);
    // Busy, but far below the line (0.8 × 0.95 = 0.76 cores): no round.
    expect(due(early, sampled({ 7: 0.5 }))).toBe(false);
    // Risen near the line from a quiet reading: a round now.
    expect(due(early, sampled({ 7: 0.9 }))).toBe(true);
    // Read at 0.97 since: the same estimate is no rise.
    regularRound(early, [cpu(proc(7), 0.97)]);
    expect(due(early, sampled({ 7: 1.0 }))).toBe(false);
    // A process whose reading was near the line needs a rise beyond the estimate's margin (0.15 × 0.95).
    regularRound(early, [cpu(proc(7), 0.8)]);
    expect(due(early, sampled({ 7: 0.9 }))).toBe(false);
    expect(due(early, sampled({ 7: 0.96 }))).toBe(true);
    // tail2d's own processes never count.
    regularRound(early, []);
    expect(due(early, sampled({ 7: 1.0 }), new Set([7]))).toBe(false);
  });

  it('looks only at the processes a rule watches, at that rule’s threshold; a process not read yet by the name its samples give', () => {
    const db = makeRule({ name: 'db', scope: { kind: 'process', pattern: /^db$/ }, threshold: { value: 20, unit: 'percent', text: '20%' } });
    const one = makeRule({ name: 'one', scope: { kind: 'pid', pid: 8 }, threshold: { value: 90, unit: 'percent', text: '90%' } });
    const early = new EarlyRounds([db, one], HOST);
    regularRound(early, []);
    // p7 matches neither rule: busy as it is, no round.
    expect(due(early, sampled({ 7: 1.0 }))).toBe(false);
    // pid 8 is watched at 0.9 cores: 0.5 is below its line, 0.8 near it.
    expect(due(early, sampled({ 8: 0.5 }))).toBe(false);
    expect(due(early, sampled({ 8: 0.8 }))).toBe(true);
    // A new process (no reading yet) named db by its samples: watched at 0.2 cores.
    expect(due(early, sampled({ 150: 0.3 }, 0, { 150: 'db' }))).toBe(true);
    expect(due(early, sampled({ 151: 0.3 }, 0, { 151: 'other' }))).toBe(false);
  });

  it('needs a rise of a tenth of a core at least, so a rule at 0% does not ask at every look', () => {
    const anyCpu = new EarlyRounds([makeRule({ scope: { kind: 'process', pattern: /./ }, threshold: { value: 0, unit: 'percent', text: '0%' } })], HOST);
    regularRound(anyCpu, [cpu(proc(7), 1.0), cpu(proc(8), 0.3)]);
    expect(due(anyCpu, sampled({ 7: 1.0, 8: 0.35 }))).toBe(false);
    expect(due(anyCpu, sampled({ 7: 1.0, 8: 0.45 }))).toBe(true);
  });

  it('asks for one round to follow an early round that caught a rise part-way, and only one', () => {
    const early = new EarlyRounds([spinning], HOST);
    regularRound(early, []);
    expect(due(early, sampled({ 7: 0.9 }))).toBe(true);
    // The early round's interval was partly quiet: 0.85, between the watch line and the rule's.
    early.observe([cpu(proc(7), 0.85)], true);
    expect(early.followUpWanted()).toBe(true);
    expect(early.followUpWanted()).toBe(false); // asked once
    // The follow-up read it still below the line: no chain of rounds for a process that stays there.
    early.observe([cpu(proc(7), 0.88)], true);
    expect(early.followUpWanted()).toBe(false);
    // Seen for the first time by the early round (no rate yet): one more round gives it one.
    expect(due(early, sampled({ 150: 1.0 }))).toBe(true);
    early.observe([cpu(proc(7), 0.88)], true);
    expect(early.followUpWanted()).toBe(true);
    // Read above the line at once: the rule has it, nothing follows; read idle (it stopped): nothing either.
    regularRound(early, []);
    expect(due(early, sampled({ 9: 1.0, 10: 1.0 }))).toBe(true);
    early.observe([cpu(proc(9), 0.99), cpu(proc(10), 0.01)], true);
    expect(early.followUpWanted()).toBe(false);
    // A regular round never asks for one.
    expect(due(early, sampled({ 11: 1.0 }))).toBe(true);
    regularRound(early, []);
    expect(early.followUpWanted()).toBe(false);
  });

  it('watches the host for a system cpu rule, and nothing for cgroup scopes or other metrics', () => {
    const host = new EarlyRounds([saturated], HOST);
    regularRound(host, [cpu({ kind: 'system' }, 0.3)]);
    expect(due(host, sampled({ 7: 0.9 }, 1.0))).toBe(false);
    expect(due(host, sampled({ 7: 1.0 }, 1.9))).toBe(true);
    const unwatched = new EarlyRounds(
      [makeRule({ scope: { kind: 'cgroup', path: '/system.slice' } }), makeRule({ metric: 'rss', threshold: { value: 1e9, unit: 'bytes', text: '1GB' } }), makeRule({ comparison: 'below' })],
      HOST,
    );
    expect(unwatched.watching).toBe(false);
    expect(due(unwatched, sampled({ 7: 1.0 }, 2))).toBe(false);
    // A reload that brings a watched rule in.
    unwatched.setRules([spinning], HOST);
    expect(unwatched.watching).toBe(true);
  });
});

describe('sampledCpu', () => {
  it('turns CPU samples into cores per process, leaving out the idle task and other profile kinds', () => {
    const tables = createStackTables(() => undefined);
    const buffer = new RollingBuffer(tables, { retainNs: 60e9, maxBytes: 64 << 20 });
    const ingest = new BatchIngest(tables, buffer);
    // Half a second at 100 Hz on 2 CPUs: pid 10 on one CPU throughout, pid 20 a fifth of the
    // other, the idle task the rest; a page-fault sample of pid 20 that is not CPU time.
    const records: SyntheticRecord[] = [];
    for (let i = 0; i < 50; i++) {
      records.push({ timeNs: 1e9 + i * 1e7, pid: 10, comm: 'spinner', cpu: 0, user: [0x401000n] });
      records.push({ timeNs: 1e9 + i * 1e7, pid: i % 5 === 0 ? 20 : 0, cpu: 1, kernel: [0xffffffff81000000n] });
    }
    records.push({ timeNs: 1.2e9, pid: 20, kind: 2, weight: 4096, user: [0x401000n] });
    ingest.ingest(encodeRecords(records));
    const result = sampledCpu(tables, buffer, 1e9, 1.5e9, 100);
    expect(result.byPid.get(10)).toBeCloseTo(1.0, 5);
    expect(result.byPid.get(20)).toBeCloseTo(0.2, 5);
    expect(result.byPid.has(0)).toBe(false);
    expect(result.busyCores).toBeCloseTo(1.2, 5);
    expect(result.comms.get(10)).toBe('spinner');
  });
});

describe('early rounds in tail2d', () => {
  const running: RunningDaemon[] = [];
  afterAll(async () => {
    for (const d of running) await d.stop('SIGTERM');
  });

  it('runs a round before its time when a process starts to spin, and the rule sees it pending', async () => {
    // Half a core, and the burner ahead of the host's other work (nice exec's it: same pid), so
    // that it holds the condition on a host busy with other tests.
    const d = await startDaemon('early-rounds', ['rules:', '  - name: spin', '    metric: cpu', '    scope: { process: "^t2-early$" }', '    above: 50%', '    for: 1h', '    capture: { before: 2s, after: 1s }'].join('\n'));
    running.push(d);
    await d.collectedSince(Date.now());
    const before = (await d.status()).metrics.early_rounds;
    const burner = spawn('nice', ['-n', '-10', buildCFixture('burner', [], 't2-early'), '0'], { stdio: 'ignore' });
    try {
      const pending = await d.waitFor('the burner pending', async () => {
        const { rules } = await d.get<{ rules: Array<{ instances: Array<{ state: string; instance: { pid?: number } }> }> }>('/api/rules');
        return rules[0].instances.find((i) => i.instance.pid === burner.pid && i.state === 'pending');
      });
      expect(pending).toBeDefined();
      expect((await d.status()).metrics.early_rounds).toBeGreaterThan(before);
    } finally {
      burner.kill('SIGKILL');
    }
  });

  it('runs at most two early rounds a second (and brings the regular one forward at most once), however many processes start to spin', async () => {
    const d = await startDaemon('early-round-budget', ['rules:', '  - name: spin', '    metric: cpu', '    scope: { process: "^t2-storm$" }', '    above: 30%', '    for: 1h', '    capture: { before: 2s, after: 1s }'].join('\n'));
    running.push(d);
    await d.collectedSince(Date.now());
    const burner = buildCFixture('burner', [], 't2-storm');
    const before = (await d.status()).metrics.early_rounds;
    const startedMs = performance.now();
    // A new spinning process every 100 ms for 4 s, each for 300 ms: every batch shows a new rise.
    const children: ReturnType<typeof spawn>[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const child = spawn('nice', ['-n', '-5', burner, '0'], { stdio: 'ignore' });
        children.push(child);
        setTimeout(() => child.kill('SIGKILL'), 300);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      for (const child of children) child.kill('SIGKILL');
    }
    const ran = (await d.status()).metrics.early_rounds - before;
    const seconds = (performance.now() - startedMs) / 1000;
    expect(ran).toBeGreaterThan(0);
    // Two early rounds per rolling second, and the regular round (one a second) brought forward,
    // plus one for where the count began and ended.
    expect(ran).toBeLessThanOrEqual(3 * Math.ceil(seconds) + 1);
  });
});
