import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBudget } from '../../daemon/buffer/memory-budget.js';
import { MetricCollector } from '../../daemon/metrics/metric-collector.js';
import { EVALUATION_INTERVAL_MS, RuleRounds } from '../../daemon/tail2d/rule-rounds.js';
import type { RuleEvent } from '../../triggers/rule-engine.js';
import { buildCFixture, testOutput } from '../helpers/fixtures.js';

// The rule rounds with the real collectors on a real burner: what the rules see, round by round.

const dir = join(testOutput, 'rule-rounds');
const cleanups: Array<() => unknown> = [];

afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

interface Round {
  atMs: number;
  monotonicMs: number;
  /** The burner had a reading (any metric) this round. */
  burnerSeen: boolean;
  /** The burner's cpu reading this round (cores), if it had one. */
  burnerCpu?: number;
}

async function startRounds(burnerPid: () => number | undefined) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const rulesFile = join(dir, 'rules.yaml');
  writeFileSync(rulesFile, ['rules:', '  - name: spin', '    metric: cpu', '    scope: { process: "^rr-burner$" }', '    above: 50%', '    for: 1h', '    capture: { before: 1s, after: 1s }', ''].join('\n'));
  const collector = new MetricCollector({ cacheMisses: false });
  cleanups.push(() => collector.close());
  const rounds: Round[] = [];
  const collect = collector.collect.bind(collector);
  collector.collect = (nowMs) => {
    const result = collect(nowMs);
    const pid = burnerPid();
    const cpu = result.readings.find((r) => r.metric === 'cpu' && r.instance.kind === 'process' && r.instance.pid === pid);
    const seen = result.readings.some((r) => r.instance.kind === 'process' && r.instance.pid === pid);
    rounds.push({ atMs: nowMs, monotonicMs: performance.now(), burnerSeen: seen, burnerCpu: cpu?.value });
    return result;
  };
  const events: Array<{ event: RuleEvent; round: number }> = [];
  const perSecond: number[] = [];
  const ruleRounds = new RuleRounds({
    config: { rulesFile, notifiers: {} },
    collector,
    budget: new MemoryBudget(256 * 1024 * 1024),
    ownPids: () => new Set([process.pid]),
    onCollected: (nowMs) => perSecond.push(nowMs),
    // The round whose evaluation produced it is the last one collected.
    onRuleEvent: (event) => events.push({ event, round: rounds.length - 1 }),
    log: pino({ level: 'silent' }),
  });
  await ruleRounds.load();
  ruleRounds.start();
  cleanups.push(() => ruleRounds.stop());
  return { rounds, events, perSecond };
}

describe('RuleRounds', () => {
  it('sees a condition pending in the first evaluation round whose reading holds it, a round after the process is first seen', async () => {
    let burner: ChildProcess | undefined = undefined;
    const { rounds, events } = await startRounds(() => burner?.pid);
    await expect.poll(() => rounds.length, { timeout: 10 * EVALUATION_INTERVAL_MS }).toBeGreaterThanOrEqual(2);
    const roundsBefore = rounds.length;
    burner = spawn('nice', ['-n', '-10', buildCFixture('burner', [], 'rr-burner'), '0'], { stdio: 'ignore' });
    cleanups.push(() => burner?.kill('SIGKILL'));
    const pending = () => events.find((e) => e.event.type === 'pending' && e.event.instance.kind === 'process' && e.event.instance.pid === burner?.pid);
    await expect.poll(pending, { timeout: 60_000 }).toBeDefined();
    const seen = pending()!;
    // The first round with a reading above 50% of a core is the one that reported it pending.
    const firstAbove = rounds.findIndex((r, i) => i >= roundsBefore && r.burnerCpu !== undefined && r.burnerCpu > 0.5);
    expect(seen.round).toBe(firstAbove);
    expect(seen.event.atMs).toBe(rounds[firstAbove].atMs);
    // Its first cpu reading came in the round after the one that first saw it (a rate needs two
    // sights): a new process is pending two rounds after it starts, at the earliest.
    const firstSeen = rounds.findIndex((r, i) => i >= roundsBefore && r.burnerSeen);
    const firstReading = rounds.findIndex((r, i) => i >= roundsBefore && r.burnerCpu !== undefined);
    expect(firstReading).toBe(firstSeen + 1);
  });

  it('runs a round every evaluation interval, never two back to back after a late one, and its per-second work once a second', async () => {
    const { rounds, perSecond } = await startRounds(() => undefined);
    await expect.poll(() => rounds.length, { timeout: 10 * EVALUATION_INTERVAL_MS }).toBeGreaterThanOrEqual(3);
    // Block the event loop for three intervals: the rounds it missed are not run back to back.
    const until = performance.now() + 3 * EVALUATION_INTERVAL_MS;
    while (performance.now() < until) {
      // busy
    }
    const start = rounds.length;
    await expect.poll(() => rounds.length, { timeout: 20 * EVALUATION_INTERVAL_MS }).toBeGreaterThanOrEqual(start + 6);
    const gaps = rounds.slice(start - 1).map((r, i, all) => (i === 0 ? Infinity : r.monotonicMs - all[i - 1].monotonicMs));
    // Timers never fire early; 1 ms for the clock reads around the collection.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(EVALUATION_INTERVAL_MS / 2 - 1);
    const roundsPerSecond = 1000 / EVALUATION_INTERVAL_MS;
    expect(perSecond.length).toBe(Math.floor((rounds.length - 1) / roundsPerSecond));
  });
});
