import { cpus } from 'node:os';
import type { Logger } from 'pino';
import type { RollingBuffer } from '../buffer/rolling-buffer.js';
import type { Tail2Config } from '../model/config.js';
import type { SamplerStatus, UnwindingStatus } from '../model/daemon-status.js';
import type { BatchIngest } from '../profile/batch-ingest.js';
import type { ProcessEvents } from '../model/process-events.js';
import type { ProbedProfile } from '../model/profile-kind.js';
import { decidePageFaults, type PageFaultDecision } from '../model/page-fault-profile.js';
import type { Rule } from '../model/rule.js';
import { StackSampler, type ProbeWriter } from '../sampler/stack-sampler.js';
import { processAlive } from '../unwind/process-alive.js';
import { unwindCapacities } from '../unwind/unwind-budget.js';
import { UnwindLoader, type UnwindLoaderOptions } from '../unwind/unwind-loader.js';
import { CpuBackoff } from './cpu-backoff.js';

/** Sampler totals since the daemon started, across frequency changes. */
export interface SamplingTotals {
  samples: number;
  lost: number;
  droppedInUserspace: number;
  /** CPUs the current sampler samples (0 before the start). */
  cpus: number;
}

export interface SamplingOptions {
  /** `sampling.frequency` (Hz per CPU) and `sampling.max_cpu` (share of one core). */
  config: Tail2Config['sampling'];
  /** Where each batch goes: decoded and interned into the buffer. */
  ingest: BatchIngest;
  /** Bounded after every batch. */
  buffer: RollingBuffer;
  /** Where unwind tables and process mappings come from; with `config.unwind` 'auto'. */
  unwind?: Pick<UnwindLoaderOptions, 'tables' | 'snapshot'>;
  /** After each batch is in the buffer (rule-rounds.ts looks at the newest samples then). */
  onIngested?: () => void;
  /** Sampling stopped on its own (the drain thread failed): what depends on it stops too. */
  onStopped?: (reason: string) => void;
  log: Logger;
}

/**
 * How often the samples reach the buffer, at the latest: each batch costs a thread wakeup (~0.3 ms
 * of CPU on a busy VM, docs/internals.md), and the rules' early rounds see a process start to
 * spin only once its samples are in. Half a second: one wakeup a second more than the sampler's
 * default, for a spinning process seen pending within a second.
 */
const BATCH_INTERVAL_MS = 500;

/** Ring buffer bounds (bytes): the sampler's own default was the upper one for every host. */
const MIN_RING_BYTES = 1 << 20;
const MAX_RING_BYTES = 8 << 20;

/**
 * The BPF ring buffer for `cpus` CPUs at `frequency` Hz: about a second of records of ~250 frames
 * each, between 1 and 8 MiB (the addon rounds up to a power of two). The drain thread empties it
 * whenever it is a quarter full, so a second is ample; and its pages are mapped twice into tail2d
 * (the ring wraps around), so every MiB here is 2 MB of RSS: 16 MB for a fixed 8 MiB on 2 CPUs.
 */
export function ringBufferBytesFor(cpus: number, frequency: number): number {
  return Math.min(MAX_RING_BYTES, Math.max(MIN_RING_BYTES, cpus * frequency * 2048));
}

/** The largest period the addon takes (native/sampler.cc, setPageFaultPeriod). */
const MAX_PAGE_FAULT_PERIOD = 1_000_000_000;

/**
 * Page-fault samples a second past which the period doubles: a process faulting tens of GiB a
 * second must not fill the buffer's one memory budget with page faults and push the CPU history
 * out (at 16 B a sample, 2,000 a second are 19 MB in ten minutes). Under a quarter of it for a
 * minute, the period halves back.
 */
const MAX_PAGE_FAULT_SAMPLES_PER_SECOND = 2000;
const PAGE_FAULT_CALM_ROUNDS = 60;

/** How often processes gone without an exit record (lost to a full ring) are looked for. */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * The sampling lifecycle: the stack sampler on every CPU, each batch into the buffer, the unwind
 * tables its walk reads (daemon/unwind/), and self-protection: while tail2d itself uses more CPU
 * than `sampling.max_cpu` the sampler slows down, and comes back to the configured frequency
 * when calm again (cpu-backoff.ts decides); the perf events change period in place, so nothing
 * is lost or reloaded.
 */
export class Sampling {
  private readonly sampler: StackSampler;
  private readonly cpuBackoff: CpuBackoff;
  private loader: UnwindLoader | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Set while sampling runs below the configured frequency to protect the host. */
  private backoff: SamplerStatus['backoff'] = null;
  private failedBatches = 0;
  private stoppedBy: string | undefined;
  private running = false;
  /** What the mode and the rules say of page faults (see watchRules); off until rules are known. */
  private pageFaults: PageFaultDecision = { on: false, reason: 'no rules loaded yet' };
  /** Why the page-fault events could not be switched the last time (the kernel refused, a period out of range). */
  private pageFaultError: string | undefined;
  /** How much the page-fault rate limit multiplies the period (1: not limited), and what it last saw. */
  private faultRate = { factor: 1, samples: 0, atMs: 0, calmRounds: 0 };

  /** What the ingest hears about processes, for the unwind tables (forwarded once they exist). */
  readonly processEvents: ProcessEvents = {
    tablesWanted: (pid, startTimeNs, unknownMapping) => this.loader?.tablesWanted(pid, startTimeNs, unknownMapping),
    gone: (pid, startTimeNs) => this.loader?.gone(pid, startTimeNs),
  };

  constructor(private readonly options: SamplingOptions) {
    this.sampler = this.createSampler(options.config.frequency);
    this.cpuBackoff = new CpuBackoff(options.config.frequency, options.config.maxCpu);
  }

  /** Attaches to every CPU; returns how many. Throws (a Tail2Error) when the kernel refuses. */
  start(): number {
    const cpus = this.sampler.start();
    this.running = true;
    this.applyPageFaults();
    const maps = this.sampler.unwindMaps();
    if (maps && this.options.unwind) {
      this.loader = new UnwindLoader({
        maps,
        ...this.options.unwind,
        alive: processAlive,
        onError: (error) => this.options.log.error({ err: error }, 'the unwind tables’ loader failed; it goes on, that process walked by frame pointer'),
      });
      this.sweepTimer = setInterval(() => this.loader?.sweep(processAlive), SWEEP_INTERVAL_MS);
      this.sweepTimer.unref();
    }
    return cpus;
  }

  /**
   * The rules in force (at load and at each reload): the page-fault profile follows them in `auto`
   * mode, switched live on every CPU (docs/profiles.md).
   */
  watchRules(rules: readonly Rule[]): void {
    this.pageFaults = decidePageFaults(this.options.config.pageFaults.mode, rules);
    if (this.running) this.applyPageFaults();
  }

  /**
   * Faults per page-fault sample now: `sampling.page_faults.period`, times as much as CPU
   * sampling is slowed down (a host faulting fast enough to push tail2d over `sampling.max_cpu`
   * gets fewer page-fault samples too); 0 while the profile is off.
   */
  private wantedPageFaultPeriod(): number {
    if (!this.pageFaults.on) return 0;
    const { config } = this.options;
    const slowedDown = Math.max(1, Math.round(config.frequency / this.sampler.frequency));
    return Math.min(MAX_PAGE_FAULT_PERIOD, config.pageFaults.periodFaults * slowedDown * this.faultRate.factor);
  }

  private applyPageFaults(): void {
    const { log } = this.options;
    // Stopped on an error, or started without the program (`mode: off`): nothing to switch.
    if (!this.running || this.stoppedBy !== undefined || this.options.config.pageFaults.mode === 'off') return;
    const period = this.wantedPageFaultPeriod();
    if (this.sampler.pageFaultPeriod === period) {
      // Off and nothing attached: whatever the kernel refused before is moot.
      if (period === 0) this.pageFaultError = undefined;
      return;
    }
    const before = this.sampler.pageFaultPeriod;
    try {
      this.sampler.setPageFaultPeriod(period);
      this.pageFaultError = undefined;
      const what = period === 0 ? 'page-fault profile off' : before === 0 ? 'page-fault profile on' : 'page-fault period follows the sampling frequency';
      log.info({ periodFaults: period, was: before, reason: this.pageFaults.reason }, what);
    } catch (error) {
      // CPU sampling goes on; the status says why this profile does not.
      this.pageFaultError = (error as Error).message;
      log.error({ err: error }, 'the page-fault profile could not be switched; CPU sampling goes on');
    }
  }

  /** Detaches; every batch handed over has reached the buffer when it resolves. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.sweepTimer);
    this.loader?.close();
    await this.sampler.stop();
  }

  /** `unwinding` in GET /api/status. */
  unwindingStatus(): Omit<UnwindingStatus, 'tables'> {
    const loader = this.loader?.status();
    const stats = this.sampler.stats();
    return {
      mode: this.options.config.unwind,
      map_bytes: stats?.unwindMapBytes ?? 0,
      processes: {
        with_tables: loader?.processes ?? 0,
        capacity: loader?.processCapacity ?? 0,
        learned: loader?.learned ?? 0,
        refreshed: loader?.refreshed ?? 0,
        failed: loader?.failed ?? 0,
        queued: loader?.queued ?? 0,
        evicted: loader?.processesEvicted ?? 0,
        mappings_capped: loader?.mappingsCapped ?? 0,
      },
      files: {
        with_tables: loader?.files ?? 0,
        unused: loader?.unusedFiles ?? 0,
        without_cfi: loader?.filesWithoutTables ?? 0,
        without_room: loader?.filesWithoutRoom ?? 0,
        evicted: loader?.filesEvicted ?? 0,
        errors: loader?.tableErrors ?? 0,
      },
      rows: loader?.rows ?? { used: 0, capacity: 0 },
      mappings: loader?.mappings ?? { used: 0, capacity: 0 },
      walks: {
        with_tables: stats?.tableWalks ?? 0,
        without_tables: stats?.walksWithoutTables ?? 0,
        truncated: stats?.walksTruncated ?? 0,
        frame_pointer: stats?.walksFramePointer ?? 0,
        unknown_mapping: stats?.walksUnknownMapping ?? 0,
        stopped: stats?.walksStopped ?? 0,
      },
    };
  }

  /** What attaches `profile`'s probes; undefined before the start or with that profile's `mode: off`. */
  probeWriter(profile: ProbedProfile): ProbeWriter | undefined {
    return this.sampler.probeWriter(profile);
  }

  /** `pid`'s copies by size since its copy probes were attached (bpf/copies.h buckets). */
  copySizes(pid: number): number[] {
    return this.sampler.copySizes(pid);
  }

  /** Makes the sampler hand over what it holds, so the buffer has the last second too. */
  flush(): Promise<void> {
    return this.sampler.flush();
  }

  /** Samples per second per CPU now (below `sampling.frequency` while slowed down). */
  get frequency(): number {
    return this.sampler.frequency;
  }

  /** Why sampling stopped on its own; undefined while it runs. */
  get error(): string | undefined {
    return this.stoppedBy;
  }

  /** See {@link SamplingTotals}. */
  totals(stats = this.sampler.stats()): SamplingTotals {
    return {
      samples: stats?.samples ?? 0,
      lost: stats?.lost ?? 0,
      droppedInUserspace: stats?.droppedInUserspace ?? 0,
      cpus: stats?.cpus ?? 0,
    };
  }

  /** The sampler's own counters (walks by kind among them). */
  samplerStats(): ReturnType<StackSampler['stats']> {
    return this.sampler.stats();
  }

  /** Batches whose ingest threw (and were dropped). */
  get batchFailures(): number {
    return this.failedBatches;
  }

  /** `sampler` in GET /api/status. */
  status(stats = this.sampler.stats()): SamplerStatus {
    // One read of the counters (a map lookup per counter and the programs' fdinfo) for everything:
    // the caller may pass the read it made for the rest of its status.
    const totals = this.totals(stats);
    return {
      running: this.stoppedBy === undefined,
      error: this.stoppedBy ?? null,
      frequency: this.sampler.frequency,
      configured_frequency: this.options.config.frequency,
      max_cpu_percent_of_core: this.options.config.maxCpu * 100,
      backoff: this.backoff,
      cpus: totals.cpus,
      samples: totals.samples,
      lost: totals.lost,
      dropped_in_userspace: totals.droppedInUserspace,
      failed_batches: this.failedBatches,
      stack_errors: { ...this.options.ingest.stackErrors },
      page_faults: {
        mode: this.options.config.pageFaults.mode,
        on: this.stoppedBy === undefined && this.sampler.pageFaultPeriod > 0,
        reason:
          this.pageFaultError !== undefined
            ? `wanted (${this.pageFaults.reason}) but it could not be switched on`
            : this.faultRate.factor > 1
              ? `${this.pageFaults.reason}; period ×${this.faultRate.factor}: more than ${MAX_PAGE_FAULT_SAMPLES_PER_SECOND} samples a second arrived`
              : this.pageFaults.reason,
        period_faults: this.sampler.pageFaultPeriod || this.options.config.pageFaults.periodFaults,
        samples: stats?.pageFaultSamples ?? 0,
        error: this.pageFaultError ?? null,
      },
    };
  }

  /**
   * Self-protection, once per collector round: `cpuShareOfCore` is tail2d's own CPU over the
   * last round (1 = one core). Slows sampling down or restores it when cpu-backoff.ts says so.
   */
  protectHost(cpuShareOfCore: number): void {
    if (this.stoppedBy !== undefined) return;
    this.limitPageFaultRate();
    const decision = this.cpuBackoff.observe(cpuShareOfCore, this.sampler.frequency);
    if (decision.change === 'none') return;
    const { log, config } = this.options;
    const from = this.sampler.frequency;
    try {
      this.sampler.setFrequency(decision.frequency);
      this.backoff = decision.frequency < config.frequency ? { frequency: decision.frequency, since: new Date().toISOString(), reason: decision.reason } : null;
      log.warn({ from, to: decision.frequency, reason: decision.reason }, decision.change === 'lower' ? 'sampling slowed down to protect the host' : 'sampling back up');
      // Page faults slow down (and come back) with the CPU samples.
      this.applyPageFaults();
    } catch (error) {
      // The perf events keep their old period: sampling goes on at `from`.
      log.error({ err: error, from, to: decision.frequency }, 'changing the sampling frequency failed; sampling goes on at the old one');
    }
  }

  /**
   * Once a round: doubles the page-fault period while more than MAX_PAGE_FAULT_SAMPLES_PER_SECOND
   * arrive, and halves it back after PAGE_FAULT_CALM_ROUNDS rounds under a quarter of that.
   */
  private limitPageFaultRate(): void {
    if (this.sampler.pageFaultPeriod === 0) {
      this.faultRate = { factor: 1, samples: 0, atMs: 0, calmRounds: 0 };
      return;
    }
    const nowMs = performance.now();
    const samples = this.sampler.stats()?.pageFaultSamples ?? 0;
    const last = this.faultRate;
    // Rounds closer than half a second apart (early rounds) say nothing reliable about a rate.
    if (last.atMs !== 0 && nowMs - last.atMs < 500) return;
    const rate = last.atMs === 0 ? 0 : ((samples - last.samples) * 1000) / (nowMs - last.atMs);
    this.faultRate = { ...last, samples, atMs: nowMs };
    const limit = MAX_PAGE_FAULT_SAMPLES_PER_SECOND;
    if (rate > limit && this.wantedPageFaultPeriod() < MAX_PAGE_FAULT_PERIOD) {
      this.faultRate.factor *= 2;
      this.faultRate.calmRounds = 0;
      this.options.log.warn({ samplesPerSecond: Math.round(rate), factor: this.faultRate.factor }, 'page faults arrive faster than tail2 keeps them: their period doubles');
      this.applyPageFaults();
    } else if (this.faultRate.factor > 1) {
      this.faultRate.calmRounds = rate < limit / 4 ? this.faultRate.calmRounds + 1 : 0;
      if (this.faultRate.calmRounds < PAGE_FAULT_CALM_ROUNDS) return;
      this.faultRate.factor /= 2;
      this.faultRate.calmRounds = 0;
      this.applyPageFaults();
    }
  }

  private createSampler(frequency: number): StackSampler {
    const { ingest, buffer, log, config } = this.options;
    return new StackSampler({
      frequency,
      ringBufferBytes: ringBufferBytesFor(cpus().length, Math.max(frequency, config.frequency)),
      unwind: config.unwind === 'auto' && this.options.unwind ? unwindCapacities(config.unwindMemoryBytes) : undefined,
      // Loaded unless switched off (its verification costs as much as the CPU program's), attached
      // when wanted: the rules may ask for it at any reload.
      pageFaults: config.pageFaults.mode === 'off' ? undefined : { period: 0 },
      // Loaded (where the kernel has session uprobes) so that probes attach at once when asked for.
      allocations: config.allocations.mode === 'off' ? undefined : { meanBytes: config.allocations.meanBytes, maxTracked: config.allocations.maxTracked },
      copies: config.copies.mode === 'off' ? undefined : { meanBytes: config.copies.meanBytes },
      batchIntervalMs: BATCH_INTERVAL_MS,
      onBatch: (batch) => {
        // A throw here would surface as an uncaught exception from the native callback and take
        // the daemon down with every pinned capture: report it and drop this batch instead.
        try {
          ingest.ingest(batch);
          buffer.enforceBounds();
          this.options.onIngested?.();
        } catch (error) {
          this.failedBatches++;
          if (this.failedBatches === 1 || this.failedBatches % 100 === 0) {
            log.error({ err: error, failures: this.failedBatches }, 'ingesting a sample batch failed; the batch was dropped');
          }
        }
      },
      onError: (error) => {
        this.stoppedBy = error.message;
        log.error({ err: error }, 'sampling stopped');
        this.options.onStopped?.(error.message);
      },
    });
  }
}
