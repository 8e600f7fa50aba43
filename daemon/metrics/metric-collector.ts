import type { RedactRules } from '../model/redact-rules.js';
import { CacheMisses, type NativePerfCountersClass } from './cache-misses.js';
import { CgroupStats } from './cgroup-stats.js';
import type { MetricHistory } from './metric-history.js';
import type { HostFacts, MetricInstance, MetricName, MetricReading, UnavailableMetric } from '../model/metrics.js';
import { SystemCpu } from './proc-stat.js';
import { ProcessCpuRss, type HeldChanges } from './process-cpu-rss.js';
import { Pressure } from './psi.js';
import { openTaskIterator } from './task-iterator.js';
import { RssGrowth } from './rss-growth.js';
import type { MemoryConsumer } from '../model/memory-consumer.js';

/**
 * An {@link UnavailableMetric} that may concern one kind of instance only: `{ metric: 'rss', scope:
 * 'cgroup' }` means cgroup rss is missing while process rss is read. No `scope`: every instance.
 */
export interface ScopedUnavailableMetric extends UnavailableMetric {
  scope?: 'system' | 'process' | 'cgroup';
}

/** What one {@link MetricCollector.collect} call returns. */
export interface CollectResult {
  readings: MetricReading[];
  /** Metrics this host cannot provide (or that failed this round), each with the reason. */
  unavailable: ScopedUnavailableMetric[];
  /** Wall-clock ms the call took. */
  costMs: number;
}

export interface MetricCollectorOptions {
  /** @defaultValue '/proc' */
  procRoot?: string;
  /** The cgroup v2 mount; found in /proc/self/mounts when not given. */
  cgroupRoot?: string;
  /** @defaultValue '/proc/pressure' */
  pressureDirectory?: string;
  /** Window of the rss_growth slope. @defaultValue 60_000 */
  rssGrowthWindowMs?: number;
  /** Readings in the window before rss_growth is reported. @defaultValue 10 */
  rssGrowthMinPoints?: number;
  /** Count cache misses with the hardware PMU (when there is one). @defaultValue true */
  cacheMisses?: boolean;
  /** Replaces the native PerfCounters (tests). */
  perfCounters?: NativePerfCountersClass;
  /** When given, every reading is also recorded here. */
  history?: MetricHistory;
  /** @defaultValue performance.now */
  monotonicMs?: () => number;
  /** What is hidden in process command lines (tail2.yaml `redact:`). @defaultValue the built-in rules */
  redact?: RedactRules;
  /**
   * Read per-process CPU and RSS with the BPF task iterator (one read per round) rather than one
   * /proc/PID/stat per process. Ignored with `procRoot` (a recorded /proc). @defaultValue true
   */
  taskIterator?: boolean;
  /** Reads command lines elsewhere (see ProcessCpuRssOptions.cmdlineReader); tail2d: in tail2-reader. */
  cmdlineReader?: (pid: number, startTicks: number) => Promise<string | undefined>;
  /**
   * Leave out the readings of processes whose every value (cpu, rss, rss_growth) repeats its last:
   * they *hold* ({@link MetricCollector.holds}), and the history and the rss_growth windows take
   * them as recorded; the rules take them through `holds` (RuleEngine.evaluate). `false` gives
   * every process's readings every round, as tests comparing the two do. @defaultValue true
   */
  omitRepeats?: boolean;
}

/** What an early round reads for processes (see MetricCollector.collect's `cpuOnly`). */
const CPU_ROUND_METRICS: readonly MetricName[] = ['cpu', 'rss'];

/** One RSS-growth window: two arrays of 128 doubles and the track around them. */
const GROWTH_TRACK_BYTES = 2 * 128 * 8 + 200;

/**
 * All metric collectors behind one call, made once per evaluation interval (1 s) by the daemon.
 * Every value covers the interval since the previous call; the first call only sets baselines for
 * rates (cpu, psi, cache misses) and returns rss. A collector that fails in a round is reported in
 * `unavailable` for that round; the others still answer.
 */
export class MetricCollector implements MemoryConsumer {
  readonly memoryName = 'process_metrics';
  private readonly systemCpu: SystemCpu;
  private readonly processes: ProcessCpuRss;
  private readonly cgroups: CgroupStats;
  private readonly growth: RssGrowth;
  private readonly pressure: Pressure;
  private readonly cacheMisses: CacheMisses | undefined;
  private readonly history: MetricHistory | undefined;
  private readonly monotonicMs: () => number;
  /** Monotonic ms of the last full round; NaN before one. */
  private lastFullRoundMs = Number.NaN;
  /** A full round this much later than the last (a stalled daemon) gives every reading: see collect. */
  private readonly longGapMs: number;
  /** Why per-process metrics come from /proc rather than the task iterator; undefined when they do not. */
  readonly processSourceFallback: string | undefined;

  constructor(options: MetricCollectorOptions = {}) {
    const monotonicMs = options.monotonicMs ?? (() => performance.now());
    this.monotonicMs = monotonicMs;
    this.systemCpu = new SystemCpu({ procRoot: options.procRoot, monotonicMs });
    const iterator = options.taskIterator !== false && options.procRoot === undefined ? openTaskIterator() : undefined;
    this.processSourceFallback = iterator && 'reason' in iterator ? iterator.reason : undefined;
    this.processes = new ProcessCpuRss({
      procRoot: options.procRoot,
      monotonicMs,
      redact: options.redact,
      cmdlineReader: options.cmdlineReader,
      taskStats: iterator && 'stats' in iterator ? iterator.stats : undefined,
      omitRepeats: options.omitRepeats ?? true,
    });
    this.cgroups = new CgroupStats({ root: options.cgroupRoot, monotonicMs });
    this.growth = new RssGrowth({ windowMs: options.rssGrowthWindowMs, minPoints: options.rssGrowthMinPoints });
    this.longGapMs = (options.rssGrowthWindowMs ?? 60_000) / Math.max(2, options.rssGrowthMinPoints ?? 10);
    this.pressure = new Pressure({ directory: options.pressureDirectory, monotonicMs });
    if (options.cacheMisses !== false) this.cacheMisses = new CacheMisses({ perfCounters: options.perfCounters });
    this.history = options.history;
  }

  /**
   * Whether `instance` held in the last round: a process still tracked, still that instance, left
   * out of the readings because each of its values (cpu, rss, rss_growth) repeats the last one
   * given for it. Its readings of this round are the last ones given.
   */
  holds(instance: MetricInstance): boolean {
    return instance.kind === 'process' && this.processes.holds(instance);
  }

  /**
   * The next round gives every process's readings, repeats included: for consumers that have no
   * state for processes that hold (rules just added or changed by a reload).
   */
  giveAll(): void {
    this.processes.giveAll();
  }

  /** The instance of the process tracked under `pid` (its name and command line as last read), if one is. */
  processInstance(pid: number): MetricInstance | undefined {
    return this.processes.instanceOf(pid);
  }

  /**
   * One round of every collector; `nowMs` (wall clock) stamps the readings. `cpuOnly`: only the
   * host's and the processes' CPU (and the processes' RSS, read with it), for an early round
   * (daemon/tail2d/early-rounds.ts): cgroups, psi, cache misses and rss_growth keep their baselines
   * and windows for the next full round, so their readings still cover a whole interval.
   */
  collect(nowMs: number, { cpuOnly = false }: { cpuOnly?: boolean } = {}): CollectResult {
    const started = performance.now();
    const readings: MetricReading[] = [];
    const unavailable: ScopedUnavailableMetric[] = [];
    const attempt = (metrics: MetricName[], scope: ScopedUnavailableMetric['scope'], what: string, run: () => void): boolean => {
      try {
        run();
        return true;
      } catch (error) {
        for (const metric of metrics) unavailable.push({ metric, ...(scope ? { scope } : {}), reason: `${what} failed this round: ${(error as Error).message}` });
        return false;
      }
    };

    attempt(['cpu'], 'system', 'reading /proc/stat', () => {
      const reading = this.systemCpu.read(nowMs);
      if (reading) readings.push(reading);
    });
    const firstMemoryReading = readings.length;
    const processSource = this.processes.source === 'task-iterator' ? 'reading the BPF task iterator' : 'reading /proc/PID/stat';
    // A full round long after the last (the daemon stalled): rss_growth windows may have emptied
    // below what they report from, which a held window would not show. Every process gives.
    if (!cpuOnly) {
      const atMs = this.monotonicMs();
      if (atMs - this.lastFullRoundMs > this.longGapMs) this.processes.giveAll();
      this.lastFullRoundMs = atMs;
    }
    const processesRead = attempt(['cpu', 'rss', 'rss_growth'], 'process', processSource, () => this.processes.collect(nowMs, readings));
    // Processes that began holding this round, and those that exited: the growth windows keep
    // (or drop) them without a reading, and so does the history, below.
    const held = this.processes.heldChanges();
    this.growth.hold(held.began);
    this.growth.release(held.ended);
    if (!processesRead) {
      // Nothing was read: no process holds in this round, and the next gives every reading (as a
      // consumer that takes every reading every round starts again from nothing). The windows
      // held lose this round, as unfed ones do in a full round.
      this.processes.giveAll();
      if (!cpuOnly) this.growth.dropHeld();
    }
    if (cpuOnly) {
      this.record(readings, held, nowMs, processesRead, CPU_ROUND_METRICS);
      return { readings, unavailable, costMs: performance.now() - started };
    }
    if (this.cgroups.unavailableReason !== undefined) {
      for (const metric of ['cpu', 'rss', 'rss_growth'] as const) unavailable.push({ metric, scope: 'cgroup', reason: this.cgroups.unavailableReason });
    } else {
      attempt(['cpu', 'rss', 'rss_growth'], 'cgroup', 'reading cgroup v2 files', () => this.cgroups.collect(nowMs, readings));
      if (this.cgroups.memoryUnavailableReason !== undefined) {
        for (const metric of ['rss', 'rss_growth'] as const) unavailable.push({ metric, scope: 'cgroup', reason: this.cgroups.memoryUnavailableReason });
      }
    }

    // rss_growth from this round's rss readings (processes and cgroups).
    const atMs = this.monotonicMs();
    this.growth.beginRound(atMs);
    const end = readings.length;
    for (let i = firstMemoryReading; i < end; i++) {
      const reading = readings[i];
      if (reading.metric !== 'rss') continue;
      const growth = this.growth.add(reading.instance, reading.value, atMs, nowMs);
      if (growth) readings.push(growth);
      if (reading.instance.kind === 'process') this.processes.markDerivedSteady(reading.instance, this.growth.lastWindowFlat);
    }
    this.growth.endRound();

    if (this.pressure.unavailableReason !== undefined) {
      for (const metric of ['psi_cpu', 'psi_memory', 'psi_io'] as const) unavailable.push({ metric, reason: this.pressure.unavailableReason });
    } else {
      attempt(['psi_cpu', 'psi_memory', 'psi_io'], undefined, 'reading /proc/pressure', () => this.pressure.collect(nowMs, readings));
    }

    if (this.cacheMisses) {
      this.cacheMisses.collect(nowMs, readings);
      if (this.cacheMisses.unavailableReason !== undefined) unavailable.push({ metric: 'cache_miss_rate', reason: this.cacheMisses.unavailableReason });
    } else {
      unavailable.push({ metric: 'cache_miss_rate', reason: 'cache-miss counting is switched off in the configuration.' });
    }

    this.record(readings, held, nowMs, processesRead);
    return { readings, unavailable, costMs: performance.now() - started };
  }

  // The round into the history: the held processes that exited end where they were last seen,
  // the readings are recorded, the new holders set aside, and every holder's `metrics` held to now
  // (unless no process was read: then none held). A holder the history has no room for, or lost to
  // the memory budget, gives its readings again next round, as if recorded every round.
  private record(readings: readonly MetricReading[], held: HeldChanges, nowMs: number, processesRead: boolean, metrics?: readonly MetricName[]): void {
    if (!this.history) return;
    this.history.release(held.ended);
    this.history.record(readings);
    this.processes.giveAgain(this.history.hold(held.began));
    this.processes.giveAgain(this.history.takeDroppedHolders());
    if (processesRead) this.history.holdThrough(nowMs, metrics);
  }

  /** Facts the trigger engine needs (online CPUs, from /proc/stat; known after the first collect). */
  hostFacts(): HostFacts {
    return { cpus: this.systemCpu.cpus };
  }

  /** Processes and cgroups currently tracked, and where per-process CPU and RSS come from. */
  tracked(): { processes: number; cgroups: number; processSource: 'task-iterator' | 'proc' } {
    return { processes: this.processes.size, cgroups: this.cgroups.size, processSource: this.processes.source };
  }

  // The memory budget's view: state per live process (its last stat reading and command line, its
  // RSS-growth window). Nothing here may go: it is what the next round's rates are computed from,
  // and it is bounded by the processes alive at once.

  memoryBytes(): number {
    return this.processes.bytes + this.growth.size * GROWTH_TRACK_BYTES;
  }

  oldestEvictableMs(): number | undefined {
    return undefined;
  }

  evictOldest(): void {
    // nothing is evictable: see memoryBytes
  }

  /** Closes the kept /proc fds, the task iterator and the perf counters. */
  close(): void {
    this.processes.close();
    this.cacheMisses?.close();
  }
}
