import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MetricCollector } from '../../daemon/metrics/metric-collector.js';
import { MetricHistory } from '../../daemon/metrics/metric-history.js';
import { instanceKey, METRIC_NAMES } from '../../daemon/model/metrics.js';


describe('MetricCollector on this machine', () => {
  it('gives rss at once, rates from the second round on, every value in its canonical unit, and records history', async () => {
    const history = new MetricHistory();
    const collector = new MetricCollector({ history });
    try {
      const self = `process:${process.pid}:`;
      const first = collector.collect(Date.now());
      expect(first.readings.every((r) => r.metric === 'rss')).toBe(true);
      expect(first.readings.some((r) => instanceKey(r.instance).startsWith(self))).toBe(true);
      expect(collector.hostFacts().cpus).toBeGreaterThan(0);

      await sleep(1000);
      const now = Date.now();
      const startedMs = performance.now();
      const { readings, unavailable, costMs } = collector.collect(now);
      // The cost it reports is the time the round took, as measured around it.
      expect(costMs).toBeGreaterThan(0);
      expect(costMs).toBeLessThanOrEqual(performance.now() - startedMs);
      const metrics = new Set(readings.map((r) => r.metric));
      for (const metric of ['cpu', 'rss', 'psi_cpu', 'psi_memory', 'psi_io'] as const) expect(metrics, metric).toContain(metric);
      for (const r of readings) {
        expect(METRIC_NAMES).toContain(r.metric);
        expect(r.timeMs).toBe(now);
        expect(Number.isFinite(r.value)).toBe(true);
        if (r.metric === 'cpu') {
          expect(r.value).toBeGreaterThanOrEqual(0);
          expect(r.value).toBeLessThanOrEqual(collector.hostFacts().cpus + 0.05);
        }
        if (r.metric.startsWith('psi_')) expect(r.value).toBeLessThanOrEqual(1);
      }
      const system = readings.filter((r) => r.instance.kind === 'system' && r.metric === 'cpu');
      expect(system).toHaveLength(1);
      // This test process is one of the processes, with its command line.
      const ours = readings.find((r) => r.metric === 'cpu' && instanceKey(r.instance).startsWith(self))!;
      expect(ours.instance.kind === 'process' && ours.instance.cmdline).toMatch(/node|vitest/);
      // Every unavailable metric says why.
      for (const entry of unavailable) expect(entry.reason.length).toBeGreaterThan(20);
      expect(history.series('cpu', 'system', 0, Infinity)).toEqual([{ timeMs: now, value: system[0].value }]);
      expect(history.stats().instances).toBeGreaterThanOrEqual(collector.tracked().processes);
    } finally {
      collector.close();
    }
  });

  it('reports a collector that fails in a round as unavailable and keeps the others', () => {
    const collector = new MetricCollector({ procRoot: '/nonexistent-proc', cacheMisses: false });
    const { readings, unavailable } = collector.collect(Date.now());
    expect(unavailable).toContainEqual({ metric: 'cpu', scope: 'system', reason: expect.stringMatching(/reading \/proc\/stat failed this round: ENOENT/) });
    expect(unavailable).toContainEqual({ metric: 'rss', scope: 'process', reason: expect.stringMatching(/failed this round/) });
    expect(unavailable).toContainEqual({ metric: 'cache_miss_rate', reason: expect.stringMatching(/switched off/) });
    // PSI and cgroups still answer (from their own paths).
    expect(readings.every((r) => r.instance.kind !== 'process')).toBe(true);
    collector.close();
  });
});
