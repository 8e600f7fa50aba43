import { describe, expect, it } from 'vitest';
import type { HostFacts, MetricInstance, MetricName, MetricReading } from '../../daemon/model/metrics.js';
import { FORGET_UNSEEN_AFTER_MS, RuleEngine, type RuleEvent } from '../../triggers/rule-engine.js';
import type { Rule } from '../../daemon/model/rule.js';
import { scopeMatches } from '../../triggers/scope-match.js';
import { canonicalThreshold } from '../../triggers/threshold-units.js';
import { makeRule } from './rule-fixture.js';

const HOST: HostFacts = { cpus: 8 };
/** 03:00 UTC, when the story's service pinned its CPUs. */
const T0 = Date.UTC(2025, 0, 15, 3, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const MiB = 1024 * 1024;
const SYSTEM: MetricInstance = { kind: 'system' };

function proc(pid: number, comm: string, options: { startTime?: number; cmdline?: string } = {}): MetricInstance {
  return { kind: 'process', pid, startTime: options.startTime ?? 1000, comm, cmdline: options.cmdline ?? `/usr/bin/${comm}` };
}

function reading(instance: MetricInstance, value: number, metric: MetricName = 'cpu'): MetricReading {
  return { metric, instance, value, timeMs: 0 };
}

/** An engine on a fake clock: `at(ms, readings)` moves the clock to T0 + ms and evaluates there. */
function harness(rules: Rule[], host: HostFacts = HOST) {
  const clock = { ms: T0 };
  const engine = new RuleEngine(rules, host, { now: () => clock.ms });
  const at = (offsetMs: number, readings: MetricReading[]): RuleEvent[] => {
    clock.ms = T0 + offsetMs;
    return engine.evaluate(readings);
  };
  return { engine, clock, at };
}

const types = (events: RuleEvent[]): string[] => events.map((e) => e.type);
const summary = (events: RuleEvent[]): string[] => events.map((e) => `${e.rule.name}:${e.type}`);
const pidOf = (instance: MetricInstance): number | undefined => (instance.kind === 'process' ? instance.pid : undefined);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('canonicalThreshold', () => {
  it('turns a system cpu percent into a share of all cores and a process percent into a share of one core', () => {
    expect(canonicalThreshold(makeRule(), HOST)).toBe(7.2);
    expect(canonicalThreshold(makeRule(), { cpus: 2 })).toBe(1.8);
    for (const scope of [
      { kind: 'process', pattern: /^db/ },
      { kind: 'pid', pid: 1 },
      { kind: 'cgroup', path: '/system.slice/db.service' },
      { kind: 'unit', name: 'db.service' },
    ] as const) {
      expect(canonicalThreshold(makeRule({ scope }), HOST)).toBe(0.9);
    }
  });

  it('keeps cores, bytes and rates as written and turns psi percent into a fraction', () => {
    expect(canonicalThreshold(makeRule({ threshold: { value: 2, unit: 'cores', text: '2 cores' } }), HOST)).toBe(2);
    expect(canonicalThreshold(makeRule({ metric: 'rss', threshold: { value: 512 * MiB, unit: 'bytes', text: '512MiB' } }), HOST)).toBe(512 * MiB);
    expect(canonicalThreshold(makeRule({ metric: 'rss_growth', threshold: { value: 10 * MiB / 60, unit: 'bytes_per_second', text: '10MiB/min' } }), HOST)).toBeCloseTo(174762.67, 2);
    expect(canonicalThreshold(makeRule({ metric: 'cache_miss_rate', threshold: { value: 5000, unit: 'per_second', text: '5000/s' } }), HOST)).toBe(5000);
    expect(canonicalThreshold(makeRule({ metric: 'psi_memory', threshold: { value: 25, unit: 'percent', text: '25%' } }), HOST)).toBe(0.25);
  });

  it('refuses a unit that does not fit the metric, naming the rule and the units that fit', () => {
    expect(() => canonicalThreshold(makeRule({ metric: 'rss' }), HOST)).toThrow(/rules\.yaml:2:5: rule "test-rule": threshold "90%" is in percent, which does not fit metric rss; write it in bytes/);
    expect(() => canonicalThreshold(makeRule({ metric: 'psi_io', threshold: { value: 1, unit: 'cores', text: '1 core' } }), HOST)).toThrow(/does not fit metric psi_io/);
    expect(() => canonicalThreshold(makeRule({ threshold: { value: 1, unit: 'bytes', text: '1B' } }), HOST)).toThrow(/write it in percent or cores/);
    expect(() => canonicalThreshold(makeRule(), { cpus: 0 })).toThrow(/host reports 0 CPUs/);
  });
});

describe('scopeMatches', () => {
  const db = proc(10, 'postgres', { cmdline: 'postgres: checkpointer' });
  const py = proc(11, 'python3', { cmdline: '/usr/bin/python3 /srv/worker.py --queue=fast' });
  const cg: MetricInstance = { kind: 'cgroup', path: '/system.slice/db.service', unit: 'db.service' };

  it('matches system only to system', () => {
    expect(scopeMatches({ kind: 'system' }, SYSTEM)).toBe(true);
    expect(scopeMatches({ kind: 'system' }, db)).toBe(false);
    expect(scopeMatches({ kind: 'system' }, cg)).toBe(false);
  });

  it('tests a process pattern against comm and against the full command line', () => {
    expect(scopeMatches({ kind: 'process', pattern: /^postgres$/ }, db)).toBe(true);
    expect(scopeMatches({ kind: 'process', pattern: /worker\.py/ }, py)).toBe(true);
    expect(scopeMatches({ kind: 'process', pattern: /^nginx/ }, py)).toBe(false);
    expect(scopeMatches({ kind: 'process', pattern: /postgres/ }, SYSTEM)).toBe(false);
  });

  it('gives the same answer every time for a global pattern', () => {
    const scope = { kind: 'process', pattern: /postgres/g } as const;
    expect([1, 2, 3].map(() => scopeMatches(scope, db))).toEqual([true, true, true]);
  });

  it('matches pid, an exact cgroup path (not its children) and a unit', () => {
    expect(scopeMatches({ kind: 'pid', pid: 10 }, db)).toBe(true);
    expect(scopeMatches({ kind: 'pid', pid: 11 }, db)).toBe(false);
    expect(scopeMatches({ kind: 'cgroup', path: '/system.slice/db.service' }, cg)).toBe(true);
    expect(scopeMatches({ kind: 'cgroup', path: '/system.slice' }, cg)).toBe(false);
    expect(scopeMatches({ kind: 'cgroup', path: '/system.slice/db.service' }, { kind: 'cgroup', path: '/system.slice/db.service/child' })).toBe(false);
    expect(scopeMatches({ kind: 'unit', name: 'db.service' }, cg)).toBe(true);
    expect(scopeMatches({ kind: 'unit', name: 'db.service' }, { kind: 'cgroup', path: '/system.slice/db.service' })).toBe(false);
    expect(scopeMatches({ kind: 'unit', name: 'web.service' }, cg)).toBe(false);
  });
});

describe('RuleEngine', () => {
  const hot = [reading(SYSTEM, 7.5)]; // above 90% of 8 CPUs (7.2 cores)
  const cool = [reading(SYSTEM, 7.0)];

  it('takes an early evaluation as a rise only: a held reading goes pending or fires, a dip or a missing reading waits for the next regular one', () => {
    const spin = makeRule({ name: 'spin', scope: { kind: 'process', pattern: /^burner$/ }, threshold: { value: 90, unit: 'percent', text: '90%' }, forMs: 2 * SEC });
    const psi = makeRule({ name: 'psi', metric: 'psi_cpu', threshold: { value: 10, unit: 'percent', text: '10%' }, forMs: 0 });
    const { engine, clock, at } = harness([spin, psi]);
    const burner = proc(7, 'burner');
    const onlySpin = (rule: Rule) => rule.name === 'spin';
    const early = (offsetMs: number, readings: MetricReading[]) => {
      clock.ms = T0 + offsetMs;
      return engine.evaluateRising(readings, onlySpin);
    };
    expect(types(at(0, [reading(burner, 0.1), reading(SYSTEM, 0.5, 'psi_cpu')]))).toEqual(['firing']); // psi fires on a regular round
    expect(summary(early(300, [reading(burner, 0.99)]))).toEqual(['spin:pending']);
    // A dip in an early round, and an early round without the burner: nothing clears.
    expect(early(600, [reading(burner, 0.5)])).toEqual([]);
    expect(early(900, [])).toEqual([]);
    // Only the rules asked for: psi, which would resolve on a reading of 0, is not evaluated.
    expect(engine.evaluateRising([reading(SYSTEM, 0, 'psi_cpu')], onlySpin)).toEqual([]);
    // Held for `for` by an early round: it fires there.
    expect(summary(early(2400, [reading(burner, 1.0)]))).toEqual(['spin:firing']);
    // A regular round is what clears: the burner's dip now resolves it.
    expect(summary(at(3000, [reading(burner, 0.5), reading(SYSTEM, 0.5, 'psi_cpu')]))).toEqual(['spin:resolved']);
  });

  it('goes pending, then fires at the first evaluation where the condition has held for `for`', () => {
    const { at } = harness([makeRule({ forMs: 5 * SEC })]);
    const first = at(0, hot);
    expect(types(first)).toEqual(['pending']);
    expect(first[0]).toMatchObject({ value: 7.5, threshold: 7.2, atMs: T0, instance: SYSTEM });
    for (const s of [1, 2, 3, 4]) expect(at(s * SEC, hot)).toEqual([]);
    const fired = at(5 * SEC, hot);
    expect(types(fired)).toEqual(['firing']);
    expect(fired[0].atMs).toBe(T0 + 5 * SEC);
    // It stays firing without repeating while the condition holds, and resolves once it stops.
    for (const s of [6, 7, 8]) expect(at(s * SEC, hot)).toEqual([]);
    expect(types(at(9 * SEC, cool))).toEqual(['resolved']);
  });

  it('fires at the first evaluation past `for` when the interval does not divide it', () => {
    const { at } = harness([makeRule({ forMs: 5 * SEC })]);
    expect(types(at(0, hot))).toEqual(['pending']);
    expect(at(2 * SEC, hot)).toEqual([]);
    expect(at(4 * SEC, hot)).toEqual([]);
    expect(types(at(6 * SEC, hot))).toEqual(['firing']);
  });

  it('resets the `for` timer on a dip, including a value equal to the threshold', () => {
    const { at } = harness([makeRule({ forMs: 5 * SEC })]);
    for (const s of [0, 1, 2, 3]) at(s * SEC, hot);
    const dip = at(4 * SEC, [reading(SYSTEM, 7.2)]);
    expect(types(dip)).toEqual(['cleared']);
    expect(types(at(5 * SEC, hot))).toEqual(['pending']);
    for (const s of [6, 7, 8, 9]) expect(at(s * SEC, hot)).toEqual([]);
    const [firing] = at(10 * SEC, hot);
    expect(firing.type).toBe('firing');
    // The episode began at 5 s: before it is the incident's baseline.
    expect(firing.heldSinceMs).toBe(T0 + 5 * SEC);
  });

  it('fires at once when `for` is 0, without a pending event', () => {
    const { at } = harness([makeRule({ forMs: 0 })]);
    expect(types(at(0, hot))).toEqual(['firing']);
    expect(at(1 * SEC, hot)).toEqual([]);
    expect(types(at(2 * SEC, cool))).toEqual(['resolved']);
  });

  it('fires `below` when the value is strictly below the threshold', () => {
    const rule = makeRule({ metric: 'rss', scope: { kind: 'pid', pid: 300 }, comparison: 'below', threshold: { value: 100 * MiB, unit: 'bytes', text: '100MiB' }, forMs: 2 * SEC });
    const { at } = harness([rule]);
    const target = proc(300, 'cache');
    const other = proc(301, 'cache');
    const series = (value: number) => [reading(target, value, 'rss'), reading(other, 10 * MiB, 'rss'), reading(target, 1, 'cpu')];
    expect(types(at(0, series(50 * MiB)))).toEqual(['pending']);
    expect(at(1 * SEC, series(60 * MiB))).toEqual([]);
    const fired = at(2 * SEC, series(40 * MiB));
    expect(types(fired)).toEqual(['firing']);
    expect(fired[0]).toMatchObject({ value: 40 * MiB, threshold: 100 * MiB, instance: { pid: 300 } });
    expect(types(at(3 * SEC, series(100 * MiB)))).toEqual(['resolved']);
  });

  it('tracks each matching process separately and names the process that crossed', () => {
    const rule = makeRule({ scope: { kind: 'process', pattern: /^worker/ }, threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 2 * SEC });
    const { engine, at } = harness([rule]);
    const a = proc(10, 'worker-a');
    const b = proc(11, 'worker-b');
    const other = proc(12, 'nginx');
    const all = (va: number, vb: number) => [reading(a, va), reading(b, vb), reading(other, 0.95)];

    const started = at(0, all(0.9, 0.8));
    expect(started.map((e) => [e.type, pidOf(e.instance), e.threshold])).toEqual([
      ['pending', 10, 0.5],
      ['pending', 11, 0.5],
    ]);
    expect(at(1 * SEC, all(0.9, 0.8))).toEqual([]);
    const fired = at(2 * SEC, all(0.9, 0.8));
    expect(fired.map((e) => [e.type, e.instance])).toEqual([
      ['firing', a],
      ['firing', b],
    ]);
    expect(fired.map((e) => e.value)).toEqual([0.9, 0.8]);

    // worker-a calms down: only it resolves; worker-b keeps firing quietly.
    const calmed = at(3 * SEC, all(0.1, 0.8));
    expect(calmed.map((e) => [e.type, pidOf(e.instance)])).toEqual([['resolved', 10]]);
    // worker-b exits: a missing reading is "not held".
    const exited = at(4 * SEC, [reading(a, 0.1), reading(other, 0.95)]);
    expect(exited.map((e) => [e.type, pidOf(e.instance), e.reason])).toEqual([['resolved', 11, 'no reading this interval']]);
    // Each fired process has its own cooldown (the default 15 minutes from its own firing).
    expect(engine.states()[0].instances.map((i) => [pidOf(i.instance), i.state, i.cooldownUntilMs, i.firedToday])).toEqual([
      [10, 'cooldown', T0 + 2 * SEC + 15 * MIN, 1],
      [11, 'cooldown', T0 + 2 * SEC + 15 * MIN, 1],
    ]);
  });

  it('suppresses a firing during cooldown once per episode, then fires when the cooldown ends', () => {
    const { engine, at } = harness([makeRule({ forMs: 0, cooldownMs: 60 * SEC })]);
    expect(types(at(0, hot))).toEqual(['firing']);
    expect(types(at(1 * SEC, cool))).toEqual(['resolved']);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'cooldown', cooldownUntilMs: T0 + 60 * SEC, lastFiredMs: T0 });

    const suppressed = at(10 * SEC, hot);
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0]).toMatchObject({ type: 'suppressed', reason: `cooldown until ${iso(T0 + 60 * SEC)}`, value: 7.5 });
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'cooldown', pendingSinceMs: T0 + 10 * SEC, cooldownUntilMs: T0 + 60 * SEC, firedToday: 1 });
    for (let s = 11; s < 60; s++) expect(at(s * SEC, hot)).toEqual([]);
    // Still holding when the cooldown ends: the problem is captured now.
    expect(types(at(60 * SEC, hot))).toEqual(['firing']);

    // A new episode inside the new cooldown is reported again, once.
    expect(types(at(61 * SEC, cool))).toEqual(['resolved']);
    const again = at(62 * SEC, hot);
    expect(again.map((e) => [e.type, e.reason])).toEqual([['suppressed', `cooldown until ${iso(T0 + 120 * SEC)}`]]);
    expect(types(at(63 * SEC, cool))).toEqual(['cleared']);
    expect(types(at(130 * SEC, hot))).toEqual(['firing']);
  });

  it('caps firings at max_per_day in the trailing 24 h and allows them again as old ones age out', () => {
    const { engine, at } = harness([makeRule({ forMs: 0, cooldownMs: MIN, maxPerDay: 3 })]);
    for (const h of [0, 1, 2]) {
      expect(types(at(h * HOUR, hot))).toEqual(['firing']);
      expect(types(at(h * HOUR + MIN, cool))).toEqual(['resolved']);
    }
    const capped = at(3 * HOUR, hot);
    expect(capped.map((e) => [e.type, e.reason])).toEqual([['suppressed', 'max_per_day reached']]);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'cooldown', firedToday: 3, cooldownUntilMs: T0 + 24 * HOUR });
    expect(types(at(3 * HOUR + MIN, cool))).toEqual(['cleared']);

    expect(types(at(24 * HOUR - SEC, hot))).toEqual(['suppressed']);
    // The 00:00 firing leaves the window exactly 24 h later; the same episode fires then.
    expect(types(at(24 * HOUR, hot))).toEqual(['firing']);
    expect(types(at(24 * HOUR + MIN, cool))).toEqual(['resolved']);
    expect(types(at(25 * HOUR - SEC, hot))).toEqual(['suppressed']);
    expect(types(at(25 * HOUR, hot))).toEqual(['firing']);
    expect(engine.states()[0].instances[0].firedToday).toBe(3);
  });

  it('compares a system cpu rule in cores of the whole host and a process rule in cores of one CPU', () => {
    const system = makeRule({ name: 'host-busy', forMs: 0 });
    const process = makeRule({ name: 'db-spin', scope: { kind: 'process', pattern: /^postgres/ }, forMs: 0 });
    const { at } = harness([system, process]);
    const db = proc(5, 'postgres');
    // 7 cores is below 90% of 8 CPUs; 1 core is above 90% of one core.
    const first = at(0, [reading(SYSTEM, 7.0), reading(db, 1.0)]);
    expect(first.map((e) => [e.rule.name, e.type, e.threshold])).toEqual([['db-spin', 'firing', 0.9]]);
    const second = at(1 * SEC, [reading(SYSTEM, 7.3), reading(db, 1.0)]);
    expect(second.map((e) => [e.rule.name, e.type, e.threshold])).toEqual([['host-busy', 'firing', 7.2]]);
  });

  it('compares psi readings as fractions against a percent threshold, on the exact cgroup', () => {
    const rule = makeRule({ metric: 'psi_memory', scope: { kind: 'cgroup', path: '/system.slice/db.service' }, threshold: { value: 20, unit: 'percent', text: '20%' }, forMs: 0 });
    const { at } = harness([rule]);
    const cg: MetricInstance = { kind: 'cgroup', path: '/system.slice/db.service', unit: 'db.service' };
    const child: MetricInstance = { kind: 'cgroup', path: '/system.slice/db.service/worker' };
    expect(at(0, [reading(cg, 0.15, 'psi_memory'), reading(child, 0.9, 'psi_memory'), reading(cg, 0.9, 'psi_io')])).toEqual([]);
    const fired = at(1 * SEC, [reading(cg, 0.25, 'psi_memory')]);
    expect(fired.map((e) => [e.type, e.value, e.threshold, e.instance])).toEqual([['firing', 0.25, 0.2, cg]]);
  });

  it('treats a reused pid (same pid, new start time) as a new instance', () => {
    const { engine, at } = harness([makeRule({ scope: { kind: 'pid', pid: 42 }, forMs: 0 })]);
    const before = proc(42, 'batch', { startTime: 100 });
    const after = proc(42, 'batch', { startTime: 200 });
    expect(at(0, [reading(before, 2)]).map((e) => [e.type, e.instance])).toEqual([['firing', before]]);
    // The new process is not held back by the old one's cooldown; the old one resolves as gone.
    const swapped = at(1 * SEC, [reading(after, 2)]);
    expect(swapped.map((e) => [e.type, e.instance])).toEqual([
      ['firing', after],
      ['resolved', before],
    ]);
    expect(engine.states()[0].instances.map((i) => [i.key, i.state])).toEqual([
      ['process:42:100', 'cooldown'],
      ['process:42:200', 'firing'],
    ]);
  });

  it('forgets instances unseen for 10 minutes, so churn of 5,000 short-lived pids stays bounded', () => {
    const jobs = makeRule({ name: 'job-spin', scope: { kind: 'process', pattern: /^job-/ }, forMs: 0 });
    const host = makeRule({ name: 'host-busy', forMs: 0 });
    const { engine, at } = harness([jobs, host]);
    const perSecond = 5;
    const lifetimeS = 2;
    const churnS = 1000; // 5,000 pids, each seen at two evaluations, over longer than the forget window
    let firings = 0;
    let resolved = 0;
    let maxTracked = 0;
    for (let s = 0; s < churnS + lifetimeS; s++) {
      const readings = [reading(SYSTEM, 1)];
      for (let born = Math.max(0, s - lifetimeS + 1); born <= Math.min(s, churnS - 1); born++) {
        for (let k = 0; k < perSecond; k++) {
          const pid = 1000 + born * perSecond + k;
          readings.push(reading(proc(pid, `job-${pid}`, { startTime: born * 100 }), 0.95));
        }
      }
      const events = at(s * SEC, readings);
      firings += events.filter((e) => e.type === 'firing' && e.rule.name === 'job-spin').length;
      resolved += events.filter((e) => e.type === 'resolved').length;
      maxTracked = Math.max(maxTracked, engine.trackedInstanceCount());
    }
    expect(firings).toBe(5000);
    expect(resolved).toBe(5000);
    // Only the pids seen in the last 10 minutes (plus the system instance) are kept.
    const windowBound = perSecond * (FORGET_UNSEEN_AFTER_MS / SEC + lifetimeS + 1) + 1;
    expect(maxTracked).toBeLessThanOrEqual(windowBound);
    expect(maxTracked).toBeLessThan(5000);

    // Churn stops; 10 minutes later only the system instance, still reporting, is tracked.
    const end = churnS + lifetimeS;
    at((end + FORGET_UNSEEN_AFTER_MS / SEC + 2) * SEC, [reading(SYSTEM, 1)]);
    expect(engine.trackedInstanceCount()).toBe(1);
    expect(engine.states().map((r) => [r.rule.name, r.instances.length])).toEqual([
      ['job-spin', 0],
      ['host-busy', 1],
    ]);
  });

  it('keeps the state of unchanged rules across replaceRules and starts changed or new ones fresh', () => {
    const rules = [
      makeRule({ name: 'keep-pending', scope: { kind: 'process', pattern: /^db/i }, threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 5 * SEC }),
      makeRule({ name: 'change-threshold', threshold: { value: 80, unit: 'percent', text: '80%' }, forMs: 5 * SEC }),
      makeRule({ name: 'flags-changed', scope: { kind: 'process', pattern: /^db/i }, threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 5 * SEC }),
      makeRule({ name: 'keep-cooldown', threshold: { value: 70, unit: 'percent', text: '70%' }, forMs: 0, cooldownMs: 10 * MIN }),
      makeRule({ name: 'dropped', forMs: 0 }),
    ];
    const { engine, at } = harness(rules);
    const db = proc(7, 'db-main');
    const busy = [reading(SYSTEM, 7.5), reading(db, 0.9)];
    expect(summary(at(0, busy))).toEqual(['keep-pending:pending', 'change-threshold:pending', 'flags-changed:pending', 'keep-cooldown:firing', 'dropped:firing']);
    at(2 * SEC, busy);

    // A reload builds new objects: equal definitions (RegExp by source and flags) must still match.
    engine.replaceRules([
      makeRule({ name: 'keep-pending', scope: { kind: 'process', pattern: new RegExp('^db', 'i') }, threshold: { value: 50, unit: 'percent', text: '50 %' }, forMs: 5 * SEC }),
      makeRule({ name: 'change-threshold', threshold: { value: 85, unit: 'percent', text: '85%' }, forMs: 5 * SEC }),
      makeRule({ name: 'flags-changed', scope: { kind: 'process', pattern: /^db/ }, threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 5 * SEC }),
      makeRule({ name: 'keep-cooldown', threshold: { value: 70, unit: 'percent', text: '70%' }, forMs: 0, cooldownMs: 10 * MIN, notify: ['pager'] }),
      makeRule({ name: 'added', threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 0 }),
    ]);
    expect(engine.states().map((r) => r.rule.name)).toEqual(['keep-pending', 'change-threshold', 'flags-changed', 'keep-cooldown', 'added']);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'pending', pendingSinceMs: T0 });
    expect(engine.states()[3].instances[0]).toMatchObject({ state: 'firing', lastFiredMs: T0 });

    // keep-cooldown is still firing (no repeat); changed rules restart their `for` timer now.
    expect(summary(at(3 * SEC, busy))).toEqual(['change-threshold:pending', 'flags-changed:pending', 'added:firing']);
    expect(summary(at(5 * SEC, busy))).toEqual(['keep-pending:firing']);
    expect(at(7 * SEC, busy)).toEqual([]);
    expect(summary(at(8 * SEC, busy))).toEqual(['change-threshold:firing', 'flags-changed:firing']);

    // The kept cooldown survives a second identical reload, and events carry the new Rule object.
    expect(summary(at(9 * SEC, [reading(SYSTEM, 5.0), reading(db, 0.9)]))).toEqual(['change-threshold:resolved', 'keep-cooldown:resolved']);
    engine.replaceRules(engine.states().map((r) => r.rule));
    const suppressed = at(10 * SEC, busy).find((e) => e.rule.name === 'keep-cooldown');
    expect(suppressed).toMatchObject({ type: 'suppressed', reason: `cooldown until ${iso(T0 + 10 * MIN)}` });
    expect(suppressed?.rule.notify).toEqual(['pager']);
  });

  it('keeps the current rules when a replacement is invalid', () => {
    const { engine, at } = harness([makeRule({ name: 'host-busy', forMs: 5 * SEC })]);
    at(0, hot);
    expect(() => engine.replaceRules([makeRule({ name: 'host-busy', metric: 'rss' })])).toThrow(/does not fit metric rss/);
    expect(() => engine.replaceRules([makeRule({ name: 'twice' }), makeRule({ name: 'twice' })])).toThrow(/rule name "twice" is used twice/);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'pending', pendingSinceMs: T0 });
    expect(types(at(5 * SEC, hot))).toEqual(['firing']);
  });

  it('reports pending since, last fired, cooling down until, fired today and the last value in states()', () => {
    const { engine, clock, at } = harness([makeRule({ forMs: 30 * SEC, cooldownMs: 15 * MIN })]);
    expect(engine.states()).toEqual([{ rule: expect.objectContaining({ name: 'test-rule' }), threshold: 7.2, instances: [] }]);
    at(0, [reading(SYSTEM, 7.4)]);
    expect(engine.states()[0].instances).toEqual([
      { instance: SYSTEM, key: 'system', state: 'pending', pendingSinceMs: T0, lastFiredMs: null, cooldownUntilMs: null, firedToday: 0, lastValue: 7.4, lastSeenMs: T0 },
    ]);
    at(30 * SEC, [reading(SYSTEM, 7.6)]);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'firing', lastFiredMs: T0 + 30 * SEC, cooldownUntilMs: T0 + 30 * SEC + 15 * MIN, firedToday: 1, lastValue: 7.6 });
    at(31 * SEC, [reading(SYSTEM, 1.5)]);
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'cooldown', pendingSinceMs: null, cooldownUntilMs: T0 + 30 * SEC + 15 * MIN, lastValue: 1.5 });
    // The view follows the clock without an evaluation: the cooldown has run out.
    clock.ms = T0 + 30 * SEC + 15 * MIN;
    expect(engine.states()[0].instances[0]).toMatchObject({ state: 'inactive', cooldownUntilMs: null, firedToday: 1 });
    expect(engine.states(T0 + 30 * SEC + 24 * HOUR)[0].instances[0].firedToday).toBe(0);
  });
});

describe('RuleEngine on a host of quiet processes', () => {
  it('keeps no state for processes a pattern watches while their condition does not hold, and the same events as one that did', () => {
    const spin = makeRule({ name: 'spin', scope: { kind: 'process', pattern: /./ }, threshold: { value: 95, unit: 'percent', text: '95%' }, forMs: 2 * SEC });
    const host = makeRule({ name: 'host-busy', threshold: { value: 90, unit: 'percent', text: '90%' }, forMs: 0 });
    const { engine, at } = harness([spin, host]);
    const quiet = Array.from({ length: 5000 }, (_, i) => proc(2000 + i, `idle-${i}`));
    const busy = proc(42, 'busy');
    const round = (s: number, busyCores: number) => at(s * SEC, [reading(SYSTEM, 0.5), reading(busy, busyCores), ...quiet.map((p) => reading(p, 0.01))]);

    expect(types(round(0, 0.1))).toEqual([]);
    // The system instance is kept (its last value is shown) while inactive; no quiet process is.
    expect(engine.trackedInstanceCount()).toBe(1);
    expect(engine.states()[1].instances).toMatchObject([{ state: 'inactive', lastValue: 0.5 }]);

    expect(summary(round(1, 1.0))).toEqual(['spin:pending']);
    expect(summary(round(2, 1.0))).toEqual([]);
    expect(summary(round(3, 1.0))).toEqual(['spin:firing']);
    expect(engine.trackedInstanceCount()).toBe(2);
    // It stops: resolved, and remembered for its cooldown; a pending one that clears is forgotten.
    expect(summary(round(4, 0.1))).toEqual(['spin:resolved']);
    expect(engine.states()[0].instances.map((i) => pidOf(i.instance))).toEqual([42]);
    const flicker = quiet[7];
    expect(summary(at(5 * SEC, [reading(SYSTEM, 0.5), reading(flicker, 1.0)]))).toEqual(['spin:pending']);
    expect(summary(at(6 * SEC, [reading(SYSTEM, 0.5), reading(flicker, 0.0)]))).toEqual(['spin:cleared']);
    expect(engine.states()[0].instances.map((i) => pidOf(i.instance))).toEqual([42]);
  });
});
