import type { Logger } from 'pino';
import type { RollingBuffer } from '../buffer/rolling-buffer.js';
import type { Tail2Config } from '../model/config.js';
import type { SamplerStatus } from '../model/daemon-status.js';
import type { BatchIngest } from '../profile/batch-ingest.js';
import { StackSampler } from '../sampler/stack-sampler.js';
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
  log: Logger;
}

/**
 * The sampling lifecycle: the stack sampler on every CPU, each batch into the buffer, and
 * self-protection: while tail2d itself uses more CPU than `sampling.max_cpu` the sampler is
 * replaced by one at a lower frequency, and by one at the configured frequency when calm again
 * (cpu-backoff.ts decides). Counters go on across the replacements.
 */
export class Sampling {
  private sampler: StackSampler;
  private readonly cpuBackoff: CpuBackoff;
  /** Set while sampling runs below the configured frequency to protect the host. */
  private backoff: SamplerStatus['backoff'] = null;
  /** Totals of samplers replaced by a frequency change, so counters never go back. */
  private readonly retired = { samples: 0, lost: 0, droppedInUserspace: 0 };
  private changingFrequency = false;
  private stopping = false;
  private failedBatches = 0;
  private stoppedBy: string | undefined;

  constructor(private readonly options: SamplingOptions) {
    this.sampler = this.createSampler(options.config.frequency);
    this.cpuBackoff = new CpuBackoff(options.config.frequency, options.config.maxCpu);
  }

  /** Attaches to every CPU; returns how many. Throws (a Tail2Error) when the kernel refuses. */
  start(): number {
    return this.sampler.start();
  }

  /** Detaches; every batch handed over has reached the buffer when it resolves. No sampler starts after it. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.sampler.stop();
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
  totals(): SamplingTotals {
    const stats = this.sampler.stats();
    return {
      samples: this.retired.samples + (stats?.samples ?? 0),
      lost: this.retired.lost + (stats?.lost ?? 0),
      droppedInUserspace: this.retired.droppedInUserspace + (stats?.droppedInUserspace ?? 0),
      cpus: stats?.cpus ?? 0,
    };
  }

  /** Batches whose ingest threw (and were dropped). */
  get batchFailures(): number {
    return this.failedBatches;
  }

  /** `sampler` in GET /api/status. */
  status(): SamplerStatus {
    const totals = this.totals();
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
    };
  }

  /**
   * Self-protection, once per collector round: `cpuShareOfCore` is tail2d's own CPU over the
   * last round (1 = one core). Slows sampling down or restores it when cpu-backoff.ts says so.
   */
  protectHost(cpuShareOfCore: number): void {
    if (this.changingFrequency || this.stoppedBy !== undefined) return;
    const decision = this.cpuBackoff.observe(cpuShareOfCore, this.sampler.frequency);
    if (decision.change === 'none') return;
    void this.changeFrequency(decision.frequency, decision.change, decision.reason);
  }

  /**
   * Replaces the sampler with one at `frequency`. The buffer and every capture in flight stay; the
   * handover loses at most the batch in the old sampler's ring (it is flushed first).
   */
  private async changeFrequency(frequency: number, change: 'lower' | 'restore', reason: string): Promise<void> {
    const { log, config } = this.options;
    this.changingFrequency = true;
    const from = this.sampler.frequency;
    try {
      const old = this.sampler;
      await old.flush().catch(() => undefined);
      await old.stop();
      const stats = old.stats();
      this.retired.samples += stats?.samples ?? 0;
      this.retired.lost += stats?.lost ?? 0;
      this.retired.droppedInUserspace += stats?.droppedInUserspace ?? 0;
      // Shutdown began while the old sampler stopped: attaching a new one now would outlive it.
      if (this.stopping) return;
      this.sampler = this.createSampler(frequency);
      this.sampler.start();
      this.backoff = frequency < config.frequency ? { frequency, since: new Date().toISOString(), reason } : null;
      log.warn({ from, to: frequency, reason }, change === 'lower' ? 'sampling slowed down to protect the host' : 'sampling back up');
    } catch (error) {
      this.stoppedBy = `changing the sampling frequency to ${frequency} Hz failed: ${(error as Error).message}`;
      log.error({ err: error, from, to: frequency }, 'changing the sampling frequency failed; sampling stopped');
    } finally {
      this.changingFrequency = false;
    }
  }

  private createSampler(frequency: number): StackSampler {
    const { ingest, buffer, log } = this.options;
    return new StackSampler({
      frequency,
      onBatch: (batch) => {
        // A throw here would surface as an uncaught exception from the native callback and take
        // the daemon down with every pinned capture: report it and drop this batch instead.
        try {
          ingest.ingest(batch);
          buffer.enforceBounds();
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
      },
    });
  }
}
