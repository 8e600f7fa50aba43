import { describe, expect, it } from 'vitest';
import { MetricHistory } from '../../daemon/metrics/metric-history.js';
import { instanceKey, type MetricInstance, type MetricReading } from '../../daemon/model/metrics.js';

const T0 = Date.UTC(2025, 0, 15, 3, 0, 0);
const proc = (pid: number): MetricInstance => ({ kind: 'process', pid, startTime: 1000 + pid, comm: `p${pid}`, cmdline: `/bin/p${pid}` });

function round(instances: MetricInstance[], timeMs: number, value: (i: number) => number = () => 1): MetricReading[] {
  const readings: MetricReading[] = [];
  instances.forEach((instance, i) => {
    readings.push({ metric: 'cpu', instance, value: value(i), timeMs });
    readings.push({ metric: 'rss', instance, value: value(i) * 1e6, timeMs });
    readings.push({ metric: 'rss_growth', instance, value: 0, timeMs });
  });
  return readings;
}

describe('MetricHistory', () => {
  it('returns a series between two times, oldest first', () => {
    const history = new MetricHistory();
    const p = proc(1);
    for (let s = 0; s < 30; s++) history.record(round([p], T0 + s * 1000, () => s));
    const points = history.series('cpu', instanceKey(p), T0 + 10_000, T0 + 14_000);
    expect(points).toEqual([10, 11, 12, 13, 14].map((s) => ({ timeMs: T0 + s * 1000, value: s })));
    expect(history.series('rss', instanceKey(p), T0 + 29_000, T0 + 40_000)).toEqual([{ timeMs: T0 + 29_000, value: 29e6 }]);
    expect(history.series('psi_io', instanceKey(p), 0, Infinity)).toEqual([]);
    expect(history.series('cpu', 'process:9:9', 0, Infinity)).toEqual([]);
    expect(history.instance(instanceKey(p))).toEqual(p);
  });

  it('keeps only the retention window and at most maxPointsPerSeries points', () => {
    const history = new MetricHistory({ retentionMs: 60_000 });
    const p = proc(1);
    for (let s = 0; s < 600; s++) history.add('cpu', p, T0 + s * 1000, s);
    const points = history.series('cpu', instanceKey(p), 0, Infinity);
    expect(points[0].timeMs).toBe(T0 + 539_000);
    expect(points.length).toBe(61);
    const fast = new MetricHistory({ retentionMs: 60_000, maxPointsPerSeries: 20 });
    for (let i = 0; i < 100; i++) fast.add('cpu', p, T0 + i * 100, i);
    expect(fast.series('cpu', instanceKey(p), 0, Infinity).map((x) => x.value)).toEqual(Array.from({ length: 20 }, (_, i) => 80 + i));
  });

  it('stays bounded under a churn of 5,000 processes, evicting those updated longest ago', () => {
    const history = new MetricHistory({ retentionMs: 600_000, maxInstances: 1000 });
    // 5,000 processes; 500 alive at a time, each living 20 s; one collection round per second.
    const lifetime = 20;
    const startsPerSecond = 25;
    const total = 5000;
    let maxBytes = 0;
    for (let s = 0; s < total / startsPerSecond + lifetime; s++) {
      const alive: MetricInstance[] = [];
      for (let pid = Math.max(0, (s - lifetime + 1) * startsPerSecond); pid < Math.min(total, (s + 1) * startsPerSecond); pid++) alive.push(proc(pid));
      history.record(round([{ kind: 'system' }, ...alive], T0 + s * 1000, () => s));
      const stats = history.stats();
      expect(stats.instances).toBeLessThanOrEqual(1000);
      maxBytes = Math.max(maxBytes, stats.bytes);
    }
    const stats = history.stats();
    expect(stats.instances).toBe(1000);
    expect(stats.series).toBe(3000);
    expect(stats.evicted).toBe(5001 - 1000);
    expect(stats.rejected).toBe(0);
    // 3 series per instance, each at most 20 points (their lifetime) or 600 (the system's).
    expect(maxBytes).toBeLessThan(3000 * 64 * 12);
    // The system instance, updated every round, is never the one evicted; the first processes are gone.
    expect(history.series('cpu', 'system', 0, Infinity).length).toBe(220);
    expect(history.series('cpu', instanceKey(proc(0)), 0, Infinity)).toEqual([]);
    expect(history.series('cpu', instanceKey(proc(4999)), 0, Infinity).length).toBe(lifetime);
  });

  it('does not thrash when more instances are live than it may hold: newcomers are counted, not kept', () => {
    const history = new MetricHistory({ maxInstances: 100 });
    const live = Array.from({ length: 150 }, (_, pid) => proc(pid));
    for (let s = 0; s < 5; s++) history.record(round(live, T0 + s * 1000, () => s));
    const stats = history.stats();
    expect(stats.instances).toBe(100);
    // Round 0 kept the first 100; after that, the oldest instance is always live (updated this round).
    expect(history.series('cpu', instanceKey(proc(0)), 0, Infinity).length).toBe(5);
    expect(stats.rejected).toBeGreaterThan(0);
  });

  it('keeps a value that holds as the two ends of its run, and shows it in any window inside the run', () => {
    const history = new MetricHistory({ retentionMs: 60_000 });
    const p = proc(7);
    const key = instanceKey(p);
    const values = [5, 5, 5, 5, 5, 5, 9, 9, 9, 2];
    values.forEach((value, s) => history.add('rss', p, T0 + s * 1000, value));
    expect(history.series('rss', key, 0, Infinity)).toEqual([
      { timeMs: T0, value: 5 },
      { timeMs: T0 + 5000, value: 5 },
      { timeMs: T0 + 6000, value: 9 },
      { timeMs: T0 + 8000, value: 9 },
      { timeMs: T0 + 9000, value: 2 },
    ]);
    expect(history.stats().points).toBe(5);
    // A window inside the first run: the value at both ends.
    expect(history.series('rss', key, T0 + 1500, T0 + 3500)).toEqual([
      { timeMs: T0 + 1500, value: 5 },
      { timeMs: T0 + 3500, value: 5 },
    ]);
    // Past the retention, a run still holding is cut at the window's start, not dropped.
    for (let s = 10; s < 120; s++) history.add('rss', p, T0 + s * 1000, 2);
    const kept = history.series('rss', key, 0, Infinity);
    expect(kept).toEqual([
      { timeMs: T0 + 119_000 - 60_000, value: 2 },
      { timeMs: T0 + 119_000, value: 2 },
    ]);
  });

  it('drops instances whose last point is past the retention', () => {
    const history = new MetricHistory({ retentionMs: 10_000 });
    history.add('cpu', proc(1), T0, 1);
    history.add('cpu', proc(2), T0 + 20_000, 1);
    expect([...history.keys()]).toEqual([instanceKey(proc(2))]);
  });

  it('keeps ms timestamps exact across a 60-day run (offsets are rebased)', () => {
    const history = new MetricHistory({ retentionMs: 60_000 });
    const day = 86_400_000;
    for (const t of [0, 30 * day, 60 * day, 60 * day + 1, 60 * day + 1001]) history.add('cpu', { kind: 'system' }, T0 + t, t);
    expect(history.series('cpu', 'system', 0, Infinity)).toEqual([
      { timeMs: T0 + 60 * day, value: 60 * day },
      { timeMs: T0 + 60 * day + 1, value: 60 * day + 1 },
      { timeMs: T0 + 60 * day + 1001, value: 60 * day + 1001 },
    ]);
  });
});
