import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricCollector } from '../../daemon/metrics/metric-collector.js';
import { MetricHistory } from '../../daemon/metrics/metric-history.js';
import { METRIC_NAMES, instanceKey, type MetricReading } from '../../daemon/model/metrics.js';
import type { Rule } from '../../daemon/model/rule.js';
import { RuleEngine, type RuleEvent } from '../../triggers/rule-engine.js';
import { makeRule } from '../triggers/rule-fixture.js';

// A collector that leaves out the readings of processes whose values repeat (they "hold") must be
// indistinguishable, downstream, from one that gives every reading every round: the same history
// curves, the same rss_growth, the same rule events and states. Two collectors read the same
// simulated /proc, round by round, on one clock; one omits repeats, the other does not.

const MiB = 1024 * 1024;
const T0 = Date.UTC(2026, 11, 2, 3, 0, 0);
/** An idle process (see spawnProcess) whose rss a pid rule watches. */
const BIG_PID = 101;

interface SimProcess {
  pid: number;
  startTicks: number;
  comm: string;
  ticks: number;
  rssPages: number;
  /** What it does each round: 0 idle, 1 sometimes busy, 2 leaks in bursts, 3 busy all the time. */
  kind: 0 | 1 | 2 | 3;
}

// A seeded generator: the run is the same every time, and covers the cases below in it.
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function statLine(p: SimProcess): string {
  // Fields 3..24: state, ppid, pgrp, session, tty, tpgid, flags, minflt, cminflt, majflt, cmajflt,
  // utime (14), stime (15), cutime, cstime, priority, nice, threads, itrealvalue, starttime (22), vsize, rss (24).
  const fields = ['S', 1, p.pid, p.pid, 0, -1, 0, 0, 0, 0, 0, p.ticks, 0, 0, 0, 20, 0, 1, 0, p.startTicks, 4096 * 1024, p.rssPages];
  return `${p.pid} (${p.comm}) ${fields.join(' ')} 0 0 0\n`;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('readings left out while processes hold', () => {
  it('give the same history, rss_growth and rule events as every reading every round, with a fraction of the readings', async () => {
    const procRoot = mkdtempSync(join(tmpdir(), 'tail2-held-'));
    dirs.push(procRoot);
    const random = lcg(20261202);
    const clock = { ms: 0 };
    const processes = new Map<number, SimProcess>();
    let nextPid = 100;
    let hostTicks = 0;
    const spawnProcess = (pid = nextPid++): void => {
      // Like a host: most processes idle, a few busy, some busy in bursts, a few leaking.
      const kind = (pid % 11 === 0 ? 3 : pid % 13 === 0 ? 2 : pid % 7 === 0 ? 1 : 0) as SimProcess['kind'];
      const p: SimProcess = { pid, startTicks: 1000 + Math.floor(clock.ms / 10), comm: kind === 0 ? `idle-${pid % 4}` : `work-${kind}`, ticks: 0, rssPages: 256 + (pid % 17), kind };
      processes.set(pid, p);
      mkdirSync(join(procRoot, String(pid)), { recursive: true });
      writeFileSync(join(procRoot, String(pid), 'cmdline'), `/usr/bin/${p.comm}\0--id\0${pid}\0`);
    };
    const exitProcess = (pid: number): void => {
      processes.delete(pid);
      rmSync(join(procRoot, String(pid)), { recursive: true, force: true });
    };
    const writeProc = (): void => {
      writeFileSync(join(procRoot, 'stat'), `cpu  ${hostTicks} 0 0 ${clock.ms} 0 0 0 0 0 0\ncpu0 ${hostTicks} 0 0 ${clock.ms} 0 0 0 0 0 0\n`);
      for (const p of processes.values()) writeFileSync(join(procRoot, String(p.pid), 'stat'), statLine(p));
    };
    for (let i = 0; i < 60; i++) spawnProcess();

    const rules: Rule[] = [
      makeRule({ name: 'busy', metric: 'cpu', scope: { kind: 'process', pattern: /work/ }, threshold: { value: 50, unit: 'percent', text: '50%' }, forMs: 4000, cooldownMs: 10_000 }),
      makeRule({ name: 'idle-long', metric: 'cpu', scope: { kind: 'process', pattern: /^idle-1/ }, comparison: 'below', threshold: { value: 1, unit: 'percent', text: '1%' }, forMs: 20_000, cooldownMs: 30_000 }),
      makeRule({ name: 'big', metric: 'rss', scope: { kind: 'pid', pid: BIG_PID }, threshold: { value: 300 * 4096, unit: 'bytes', text: '1200KiB' }, forMs: 15_000, cooldownMs: 60_000 }),
      makeRule({ name: 'growing', metric: 'rss_growth', scope: { kind: 'process', pattern: /work-2/ }, threshold: { value: 1 * MiB, unit: 'bytes_per_second', text: '1MiB/s' }, forMs: 3000 }),
    ];
    const make = (omitRepeats: boolean) => {
      // A retention shorter than many holds: a held run must keep its value from the retention's edge.
      const history = new MetricHistory({ retentionMs: 30_000 });
      const collector = new MetricCollector({
        procRoot,
        cgroupRoot: join(procRoot, 'no-cgroups'),
        pressureDirectory: join(procRoot, 'no-pressure'),
        cacheMisses: false,
        history,
        monotonicMs: () => clock.ms,
        omitRepeats,
        // Command lines arrive a moment after a process is first seen (as from tail2-reader): a new
        // instance object that a held process must not hide from the rules.
        cmdlineReader: (pid) => Promise.resolve(`/usr/bin/sim --pid ${pid}`),
      });
      const engine = new RuleEngine(rules, { cpus: 1 });
      const holds = omitRepeats ? (instance: Parameters<MetricCollector['holds']>[0]) => collector.holds(instance) : undefined;
      return { history, collector, engine, holds, readings: 0 };
    };
    const every = make(false);
    const omitting = make(true);
    const eventText = (events: RuleEvent[]) => events.map((e) => `${e.type} ${e.rule.name} ${instanceKey(e.instance)} ${e.instance.kind === 'process' ? e.instance.cmdline : ''} ${e.value} ${e.atMs} ${e.reason ?? ''}`);
    const compareHistories = () => {
      const keys = [...every.history.keys()].sort();
      expect([...omitting.history.keys()].sort()).toEqual(keys);
      for (const key of keys) {
        expect(omitting.history.instance(key)).toEqual(every.history.instance(key));
        for (const metric of METRIC_NAMES) expect(omitting.history.series(metric, key, 0, Infinity), `${metric} of ${key}`).toEqual(every.history.series(metric, key, 0, Infinity));
      }
    };

    let eventsSeen = 0;
    let resumed = 0;
    const heldBefore = new Set<string>();
    const reloadedRule = makeRule({ name: 'idle-big', metric: 'rss', scope: { kind: 'process', pattern: /^idle-2/ }, threshold: { value: 250 * 4096, unit: 'bytes', text: '1000KiB' }, forMs: 5000 });
    let failedRounds = 0;
    let changedEarly: number | undefined;
    for (let round = 0; round < 240; round++) {
      // Every seventh round runs early, a quarter interval after the last (cpu and rss only).
      const early = round % 7 === 3;
      // Once the daemon stalls for 55 s (rss_growth windows empty below what they report from).
      clock.ms += early ? 250 : round === 200 ? 55_000 : 1000;
      // A reload adds a rule whose condition idle processes already hold: as RuleRounds does, the
      // collector is told to give every reading once, since the new rule has no state for holders.
      if (round === 120) {
        for (const side of [every, omitting]) {
          side.engine.replaceRules([...rules, reloadedRule]);
          side.collector.giveAll();
        }
      }
      for (const p of [...processes.values()]) {
        if (p.kind === 3) p.ticks += 90;
        else if (p.kind === 1 && round % 40 >= 30) p.ticks += 70;
        if (p.kind === 2 && round % 60 >= 40) p.rssPages += 600; // ~2.3 MiB/s for 20 s, then flat
        if (p.kind === 0 && random() < 0.003) p.rssPages += 1; // an idle one touches a page now and then
        if (random() < 0.004) exitProcess(p.pid);
      }
      if (random() < 0.1) spawnProcess();
      // A pid reused by a new process, and an exec (new comm, same process), now and then.
      if (round % 50 === 25) {
        const [victim] = processes.keys();
        exitProcess(victim);
        clock.ms += 10;
        spawnProcess(victim);
      }
      // A held process changes in an early round and exits before the next full one: its growth
      // window (held when last fed) must go with it.
      if (round === 129 || round === 130) {
        const quiet = [...processes.values()].find((p) => {
          const instance = p.kind === 0 && p.pid !== BIG_PID ? omitting.collector.processInstance(p.pid) : undefined;
          return instance !== undefined && omitting.collector.holds(instance);
        });
        if (round === 129 && quiet) {
          quiet.rssPages += 5;
          changedEarly = quiet.pid;
        }
        if (round === 130 && changedEarly !== undefined) exitProcess(changedEarly);
      }
      // The pid rule's process jumps above its line and stays there, idle (it holds while pending).
      const big = processes.get(BIG_PID);
      if (big && round === 30) big.rssPages = 400;
      if (big && round === 150) big.rssPages = 200;
      if (round % 45 === 20) {
        const p = [...processes.values()].find((q) => q.kind === 0);
        if (p) p.comm = 'idle-1-execd';
      }
      hostTicks += 100;
      writeProc();
      // Twice, /proc cannot be read for a round (both collectors fail it alike).
      const failing = round === 90 || round === 160;
      if (failing) {
        renameSync(procRoot, `${procRoot}.away`);
        failedRounds++;
      }
      const nowMs = T0 + clock.ms;
      const results: MetricReading[][] = [];
      for (const side of [every, omitting]) {
        const { readings } = side.collector.collect(nowMs, { cpuOnly: early });
        side.readings += readings.length;
        results.push(readings);
        const events = early ? side.engine.evaluateRising(readings, (rule) => rule.metric === 'cpu', nowMs, side.holds) : side.engine.evaluate(readings, nowMs, side.holds);
        (side as { events?: string[] }).events = eventText(events);
      }
      if (failing) renameSync(`${procRoot}.away`, procRoot);
      // What they hold (process entries, growth windows) is the same after every full round: the
      // windows of processes that exited go, held or not.
      if (!early) expect(omitting.collector.memoryBytes(), `round ${round}: collector state`).toBe(every.collector.memoryBytes());
      // The same events each round; held instances are taken after the readings, so the order
      // among instances may differ.
      const [a, b] = [every, omitting].map((side) => [...(side as { events?: string[] }).events!].sort());
      expect(b, `round ${round}`).toEqual(a);
      eventsSeen += a!.length;
      // Processes that held and now have readings again (a leak burst, a page touched): the case
      // where the left-out rounds must be put back.
      for (const reading of results[1]) if (heldBefore.has(instanceKey(reading.instance))) resumed++;
      heldBefore.clear();
      for (const p of processes.values()) {
        const instance = omitting.collector.processInstance(p.pid);
        if (instance && omitting.collector.holds(instance)) heldBefore.add(instanceKey(instance));
      }
      if (round % 60 === 59) {
        compareHistories();
        expect(omitting.engine.states(nowMs)).toEqual(every.engine.states(nowMs));
      }
      await new Promise((resolve) => setImmediate(resolve)); // command-line answers arrive between rounds
    }
    compareHistories();

    // The run exercised what it is about: events of every rule, held processes that changed again,
    // and far fewer readings for the same result.
    expect(eventsSeen).toBeGreaterThan(20);
    const fired = new Set(every.engine.states().flatMap((rule) => (rule.instances.some((i) => i.lastFiredMs !== null) ? [rule.rule.name] : [])));
    expect([...fired].sort()).toEqual(['big', 'busy', 'growing', 'idle-big', 'idle-long']);
    expect(failedRounds).toBe(2);
    expect(changedEarly).toBeDefined();
    expect(resumed).toBeGreaterThan(10);
    expect(omitting.readings).toBeLessThan(every.readings * 0.4);
    every.collector.close();
    omitting.collector.close();
  });
});
