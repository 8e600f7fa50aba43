import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MetricCollector } from '../../daemon/metrics/metric-collector.js';
import type { MetricInstance } from '../../daemon/model/metrics.js';
import { RssGrowth, theilSenSlope } from '../../daemon/metrics/rss-growth.js';
import { buildCFixture } from '../helpers/fixtures.js';

const MiB = 1024 * 1024;
const PROCESS: MetricInstance = { kind: 'process', pid: 10, startTime: 1, comm: 'svc', cmdline: 'svc' };

/** Ordinary least squares, to show what the robust estimator is protecting against. */
function leastSquaresSlope(times: number[], values: number[]): number {
  const n = times.length;
  const mt = times.reduce((a, b) => a + b, 0) / n;
  const mv = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (times[i] - mt) * (values[i] - mv);
    den += (times[i] - mt) ** 2;
  }
  return num / den;
}

describe('theilSenSlope', () => {
  it('is the slope of a line, and barely moves for one wild point where least squares follows it', () => {
    const times = Array.from({ length: 60 }, (_, i) => i);
    const values = times.map((t) => 500 * MiB + t * MiB); // 1 MiB/s
    expect(theilSenSlope(times, values, 60)).toBeCloseTo(MiB, 3);
    const spiked = [...values];
    spiked[50] += 800 * MiB; // one reading caught a short-lived 800 MiB buffer
    expect(Math.abs(theilSenSlope(times, spiked, 60) - MiB)).toBeLessThan(0.05 * MiB);
    expect(Math.abs(leastSquaresSlope(times, spiked) - MiB)).toBeGreaterThan(0.5 * MiB); // nearly doubled
  });
});

describe('RssGrowth', () => {
  it('reports nothing before minPoints readings, then a robust slope that one spike does not move', () => {
    const growth = new RssGrowth({ windowMs: 60_000, minPoints: 10 });
    const results: Array<number | undefined> = [];
    for (let second = 0; second < 60; second++) {
      let rss = 100 * MiB + second * 2 * MiB; // 2 MiB/s
      if (second === 45) rss += 1024 * MiB;
      results.push(growth.add(PROCESS, rss, second * 1000, second * 1000)?.value);
    }
    expect(results.slice(0, 9).every((v) => v === undefined)).toBe(true);
    expect(results[9]).toBeCloseTo(2 * MiB, 0);
    for (const value of results.slice(45)) expect(Math.abs(value! - 2 * MiB)).toBeLessThan(0.1 * 2 * MiB);
  });

  it('reports 0 for a flat rss and slides its window', () => {
    const growth = new RssGrowth({ windowMs: 10_000, minPoints: 5 });
    let last;
    for (let second = 0; second < 30; second++) last = growth.add(PROCESS, second < 15 ? second * MiB : 15 * MiB, second * 1000, 0);
    // The growth ended 15 s ago, outside the 10 s window.
    expect(last?.value).toBe(0);
    expect(last).toMatchObject({ metric: 'rss_growth', instance: PROCESS });
  });

  it('forgets instances not fed in a round', () => {
    const growth = new RssGrowth();
    growth.beginRound(0);
    growth.add(PROCESS, 1, 0, 0);
    growth.add({ ...PROCESS, pid: 11 }, 1, 0, 0);
    growth.endRound();
    growth.beginRound(1000);
    growth.add(PROCESS, 1, 1000, 1000);
    growth.endRound();
    expect(growth.size).toBe(1);
  });
});

describe('rss_growth on this machine', () => {
  it('reads a fixture leaking ~20 MiB/s as growing at about that rate', async () => {
    const leaker = spawn(buildCFixture('leaker'), ['20', '600'], { stdio: 'ignore' });
    const collector = new MetricCollector({ cacheMisses: false, rssGrowthMinPoints: 10 });
    try {
      let growth: number | undefined;
      const rss: Array<[number, number]> = []; // (s, bytes) of the leaker, for its actual rate
      for (let round = 0; round < 14; round++) {
        const { readings } = collector.collect(Date.now());
        const atSeconds = performance.now() / 1000;
        for (const r of readings) {
          if (r.instance.kind !== 'process' || r.instance.pid !== leaker.pid) continue;
          if (r.metric === 'rss_growth') growth = r.value;
          if (r.metric === 'rss') rss.push([atSeconds, r.value]);
        }
        await sleep(500);
      }
      const [[t0, first], [t1, last]] = [rss[0], rss[rss.length - 1]];
      const actual = (last - first) / (t1 - t0);
      expect(actual).toBeGreaterThan(14 * MiB); // the fixture did leak at about 20 MiB/s
      expect(growth).toBeDefined();
      expect(Math.abs(growth! - actual)).toBeLessThan(0.15 * actual);
    } finally {
      leaker.kill('SIGKILL');
      await once(leaker, 'exit');
      collector.close();
    }
  });
});
