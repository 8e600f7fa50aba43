import { loadNativeAddon } from '../sampler/native-addon.js';
import type { MetricReading } from '../model/metrics.js';

/** One CPU's perf_event group, raw (unscaled) counts since it was opened. */
export interface PerfCpuCounts {
  cpu: number;
  cacheMisses: number;
  instructions: number;
  /** ns the group was enabled. */
  timeEnabledNs: number;
  /** ns the group was actually on the PMU; less than enabled when the kernel multiplexes counters. */
  timeRunningNs: number;
}

/** What native `PerfCounters.read()` returns. */
export interface PerfCounterReadout {
  /** Summed over CPUs, each scaled by its enabled/running (lifetime counts). */
  cacheMisses: number;
  instructions: number;
  timeEnabledNs: number;
  timeRunningNs: number;
  cpus: PerfCpuCounts[];
}

export type PerfProbe = { available: true; cpus: number } | { available: false; reason: string; code: string; errno: number };

/** The native class (native/perf-counters.cc). */
export interface NativePerfCounters {
  read(): PerfCounterReadout;
  close(): void;
}

export interface NativePerfCountersClass {
  new (): NativePerfCounters;
  probe(): PerfProbe;
}

export interface CacheMissRates {
  /** Cache misses per second over the interval, multiplexing scaled, summed over CPUs. */
  missesPerSecond: number;
  instructionsPerSecond: number;
  /** Misses per 1,000 instructions; undefined when no instruction was counted. */
  perKiloInstructions: number | undefined;
  /** Seconds the interval covered (longest enabled time of any CPU). */
  intervalSeconds: number;
  /** Share of the enabled time the counters were on the PMU (1 = no multiplexing). */
  runningFraction: number;
}

/**
 * Rates between two readouts. Each CPU is scaled by its own Δenabled/Δrunning over this interval,
 * not by lifetime ratios: a counter multiplexed only in the last second must be scaled by that
 * second's ratio. A CPU whose group never ran in the interval adds nothing (nothing to scale).
 * Returns undefined when no time passed.
 */
export function cacheMissRates(previous: PerfCounterReadout, current: PerfCounterReadout): CacheMissRates | undefined {
  const before = new Map(previous.cpus.map((c) => [c.cpu, c]));
  let misses = 0;
  let instructions = 0;
  let maxEnabledNs = 0;
  let enabledNs = 0;
  let runningNs = 0;
  for (const now of current.cpus) {
    const then = before.get(now.cpu);
    if (!then) continue; // a CPU that came online since: no baseline yet
    const dEnabled = now.timeEnabledNs - then.timeEnabledNs;
    const dRunning = now.timeRunningNs - then.timeRunningNs;
    if (dEnabled <= 0) continue;
    maxEnabledNs = Math.max(maxEnabledNs, dEnabled);
    enabledNs += dEnabled;
    runningNs += Math.max(dRunning, 0);
    if (dRunning <= 0) continue;
    const scale = dEnabled / dRunning;
    misses += (now.cacheMisses - then.cacheMisses) * scale;
    instructions += (now.instructions - then.instructions) * scale;
  }
  if (maxEnabledNs <= 0) return undefined;
  const seconds = maxEnabledNs / 1e9;
  return {
    missesPerSecond: misses / seconds,
    instructionsPerSecond: instructions / seconds,
    perKiloInstructions: instructions > 0 ? (misses / instructions) * 1000 : undefined,
    intervalSeconds: seconds,
    runningFraction: runningNs / enabledNs,
  };
}

/** A `cache_miss_rate` reading with its misses per 1,000 instructions alongside. */
export interface CacheMissReading extends MetricReading {
  metric: 'cache_miss_rate';
  perKiloInstructions: number | undefined;
}

export interface CacheMissesOptions {
  /** The native class; replaceable for tests. @defaultValue the addon's PerfCounters */
  perfCounters?: NativePerfCountersClass;
}

/**
 * `cache_miss_rate` (system instance) from hardware counters on every CPU. Probes the PMU once, at
 * construction: on a machine without one (most VMs) {@link unavailableReason} says so and
 * `collect` returns nothing, every round, without failing.
 */
export class CacheMisses {
  /** Why cache misses cannot be counted here, or undefined when they are. */
  unavailableReason: string | undefined;
  private counters: NativePerfCounters | undefined;
  private previous: PerfCounterReadout | undefined;

  constructor(options: CacheMissesOptions = {}) {
    let native: NativePerfCountersClass | undefined = options.perfCounters;
    if (!native) {
      try {
        native = (loadNativeAddon() as unknown as { PerfCounters?: NativePerfCountersClass }).PerfCounters;
      } catch (error) {
        this.unavailableReason = `the native addon does not load (${(error as Error).message}); run \`npm run build\`.`;
        return;
      }
    }
    if (!native) {
      this.unavailableReason = 'the native addon has no PerfCounters (built from older sources); run `npm run build`.';
      return;
    }
    const probe = native.probe();
    if (!probe.available) {
      this.unavailableReason = probe.reason;
      return;
    }
    try {
      this.counters = new native();
    } catch (error) {
      this.unavailableReason = (error as Error).message;
    }
  }

  /** Appends the rate over the interval since the previous call (none on the first) to `out`. */
  collect(timeMs: number, out: MetricReading[] = []): MetricReading[] {
    if (!this.counters) return out;
    let current: PerfCounterReadout;
    try {
      current = this.counters.read();
    } catch (error) {
      this.unavailableReason = `reading the hardware counters failed: ${(error as Error).message}`;
      this.close();
      return out;
    }
    const previous = this.previous;
    this.previous = current;
    const rates = previous && cacheMissRates(previous, current);
    if (rates) {
      const reading: CacheMissReading = { metric: 'cache_miss_rate', instance: { kind: 'system' }, value: rates.missesPerSecond, timeMs, perKiloInstructions: rates.perKiloInstructions };
      out.push(reading);
    }
    return out;
  }

  close(): void {
    this.counters?.close();
    this.counters = undefined;
  }
}
