import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CacheMisses, cacheMissRates, type NativePerfCountersClass, type PerfCounterReadout, type PerfCpuCounts } from '../../daemon/metrics/cache-misses.js';
import { MetricCollector } from '../../daemon/metrics/metric-collector.js';
import { loadNativeAddon } from '../../daemon/sampler/native-addon.js';

const native = (loadNativeAddon() as unknown as { PerfCounters: NativePerfCountersClass }).PerfCounters;

// A hardware PMU shows up as an event source next to "software" and "tracepoint": "cpu" on x86
// ("cpu_core"/"cpu_atom" on hybrid Intel), "armv8_pmuv3_0" and the like on arm64.
const hasPmu = existsSync('/sys/bus/event_source/devices') && readdirSync('/sys/bus/event_source/devices').some((name) => name.startsWith('cpu') || name.startsWith('armv'));

function readout(cpus: PerfCpuCounts[]): PerfCounterReadout {
  const scaled = (pick: (c: PerfCpuCounts) => number) => cpus.reduce((sum, c) => sum + (c.timeRunningNs > 0 ? (pick(c) * c.timeEnabledNs) / c.timeRunningNs : 0), 0);
  return {
    cacheMisses: scaled((c) => c.cacheMisses),
    instructions: scaled((c) => c.instructions),
    timeEnabledNs: cpus.reduce((s, c) => s + c.timeEnabledNs, 0),
    timeRunningNs: cpus.reduce((s, c) => s + c.timeRunningNs, 0),
    cpus,
  };
}

describe('cacheMissRates on recorded counters', () => {
  // Two reads one second apart of a 2-CPU group set, in the shape perf-counters.cc returns.
  // CPU 0 kept the PMU to itself; CPU 1 shared it with other events and ran its group half the time.
  const previous = readout([
    { cpu: 0, cacheMisses: 41_002_117, instructions: 96_113_440_021, timeEnabledNs: 30_000_412_100, timeRunningNs: 30_000_412_100 },
    { cpu: 1, cacheMisses: 20_517_003, instructions: 48_020_118_377, timeEnabledNs: 30_000_398_900, timeRunningNs: 15_000_199_450 },
  ]);
  const current = readout([
    { cpu: 0, cacheMisses: 43_002_117, instructions: 99_313_440_021, timeEnabledNs: 31_000_412_100, timeRunningNs: 31_000_412_100 },
    { cpu: 1, cacheMisses: 21_017_003, instructions: 49_620_118_377, timeEnabledNs: 31_000_398_900, timeRunningNs: 15_500_199_450 },
  ]);

  it('scales each CPU by its enabled/running over the interval and sums', () => {
    const rates = cacheMissRates(previous, current)!;
    // CPU 0: 2.0 M misses in 1 s. CPU 1: 0.5 M counted in 0.5 s of PMU time, × 2 = 1.0 M.
    expect(rates.missesPerSecond).toBeCloseTo(3_000_000, 0);
    // Instructions: 3.2 G + 1.6 G × 2 = 6.4 G/s; 3.0 M / 6.4 G = 0.46875 per 1,000.
    expect(rates.instructionsPerSecond).toBeCloseTo(6_400_000_000, 0);
    expect(rates.perKiloInstructions).toBeCloseTo(0.46875, 9);
    expect(rates.intervalSeconds).toBeCloseTo(1, 6);
    expect(rates.runningFraction).toBeCloseTo(0.75, 6);
  });

  it('uses the interval’s multiplexing ratio, not the lifetime one', () => {
    // CPU 1 ran alone for 10 s at 1 M misses/s, then got a quarter of the PMU for the last second,
    // in which the real rate tripled: 0.75 M counted in 0.25 s of PMU time.
    const before = readout([{ cpu: 1, cacheMisses: 10_000_000, instructions: 20_000_000_000, timeEnabledNs: 10e9, timeRunningNs: 10e9 }]);
    const after = readout([{ cpu: 1, cacheMisses: 10_750_000, instructions: 21_500_000_000, timeEnabledNs: 11e9, timeRunningNs: 10.25e9 }]);
    const rates = cacheMissRates(before, after)!;
    expect(rates.missesPerSecond).toBeCloseTo(3_000_000, 0); // 0.75 M × 4
    expect(rates.perKiloInstructions).toBeCloseTo(0.5, 9);
    // Differencing the lifetime-scaled totals would say ≈ 1.54 M/s.
    expect(after.cacheMisses - before.cacheMisses).toBeCloseTo(1_536_585, 0);
  });

  it('skips a CPU whose group never ran, a CPU without a baseline, and an interval with no time', () => {
    const before = readout([{ cpu: 0, cacheMisses: 100, instructions: 1000, timeEnabledNs: 1e9, timeRunningNs: 1e9 }]);
    const after = readout([
      { cpu: 0, cacheMisses: 100, instructions: 1000, timeEnabledNs: 2e9, timeRunningNs: 1e9 }, // starved all second
      { cpu: 5, cacheMisses: 900, instructions: 9000, timeEnabledNs: 1e9, timeRunningNs: 1e9 }, // just came online
    ]);
    const rates = cacheMissRates(before, after)!;
    expect(rates.missesPerSecond).toBe(0);
    expect(rates.perKiloInstructions).toBeUndefined();
    expect(rates.runningFraction).toBe(0);
    expect(cacheMissRates(before, before)).toBeUndefined();
  });
});

describe('CacheMisses', () => {
  it(hasPmu ? 'probes the hardware PMU as available' : 'probes this VM (no hardware PMU) as unavailable, with a reason naming the PMU', () => {
    const probe = native.probe();
    if (hasPmu) {
      expect(probe.available).toBe(true);
      return;
    }
    expect(probe).toMatchObject({ available: false, code: 'TAIL2_NO_PMU' });
    if (!probe.available) {
      expect(probe.reason).toMatch(/^no hardware PMU: perf_event_open\(cache-misses, cpu \d+\) failed with E[A-Z]+ /);
      expect([2, 95, 19]).toContain(probe.errno); // ENOENT, EOPNOTSUPP, ENODEV
    }
    // Opening the counters fails the same way, as an Error with a stable code.
    expect(() => new native()).toThrow(expect.objectContaining({ code: 'TAIL2_NO_PMU', message: expect.stringMatching(/no hardware PMU/) }));
  });

  it.skipIf(hasPmu)('keeps running without a PMU: no readings, the reason reported every round', () => {
    const misses = new CacheMisses();
    expect(misses.unavailableReason).toMatch(/no hardware PMU/);
    expect(misses.collect(Date.now())).toEqual([]);
    expect(misses.collect(Date.now())).toEqual([]);
    misses.close();
    const collector = new MetricCollector();
    try {
      for (let round = 0; round < 2; round++) {
        const { unavailable, readings } = collector.collect(Date.now());
        expect(unavailable).toContainEqual({ metric: 'cache_miss_rate', reason: expect.stringMatching(/no hardware PMU/) });
        expect(readings.some((r) => r.metric === 'cache_miss_rate')).toBe(false);
        expect(readings.some((r) => r.metric === 'rss')).toBe(true);
      }
    } finally {
      collector.close();
    }
  });

  it('turns counter reads into cache_miss_rate readings with misses per 1,000 instructions alongside', () => {
    // A stand-in for the native class with the same interface, replaying two reads.
    const reads = [
      readout([{ cpu: 0, cacheMisses: 0, instructions: 0, timeEnabledNs: 0, timeRunningNs: 0 }]),
      readout([{ cpu: 0, cacheMisses: 2_000_000, instructions: 4_000_000_000, timeEnabledNs: 2e9, timeRunningNs: 1e9 }]),
    ];
    let closed = false;
    const Fake = class {
      static probe() {
        return { available: true as const, cpus: 1 };
      }
      read() {
        const next = reads.shift();
        if (!next) throw new Error('failed to read the hardware counters on CPU 0: Bad file descriptor');
        return next;
      }
      close() {
        closed = true;
      }
    };
    const misses = new CacheMisses({ perfCounters: Fake });
    expect(misses.unavailableReason).toBeUndefined();
    expect(misses.collect(1000)).toEqual([]);
    expect(misses.collect(2000)).toEqual([{ metric: 'cache_miss_rate', instance: { kind: 'system' }, value: 2_000_000, timeMs: 2000, perKiloInstructions: 0.5 }]);
    // A failed read turns the metric unavailable instead of throwing.
    expect(misses.collect(3000)).toEqual([]);
    expect(misses.unavailableReason).toMatch(/reading the hardware counters failed/);
    expect(closed).toBe(true);
  });
});
