import { fromNativeError } from '../model/tail2-error.js';
import { loadNativeAddon, type NativeSampler, type NativeSamplerStats } from './native-addon.js';
import { assertSamplingPrivileges } from './privileges.js';

export interface StackSamplerOptions {
  /** Samples per second per CPU. @defaultValue 99 */
  frequency?: number;
  /** Sample only this process (thread group id). @defaultValue every process */
  pid?: number;
  /** Ring buffer bytes shared by all CPUs. @defaultValue 8 MiB */
  ringBufferBytes?: number;
  /** How often batches reach `onBatch` (each batch costs a thread wakeup). @defaultValue 1000 ms */
  batchIntervalMs?: number;
  /**
   * Bytes of batches the event loop has not taken yet past which new batches are dropped (and
   * counted in `droppedInUserspace`): what a stalled event loop may cost. @defaultValue 64 MiB
   */
  maxQueuedBytes?: number;
  /** Receives batches of raw records (see sample-record.ts). Must not throw. */
  onBatch: (batch: Buffer) => void;
  /** The drain thread failed; sampling has stopped. */
  onError?: (error: Error) => void;
}

/**
 * The BPF stack sampler: a cpu-clock perf event on every online CPU, records drained on a native
 * thread and delivered in batches. Start and stop are synchronous; stop leaves nothing attached.
 */
export class StackSampler {
  readonly frequency: number;
  private native: NativeSampler | undefined;
  private lastStats: NativeSamplerStats | undefined;
  private batchesReceived = 0;
  private started = false;

  constructor(private readonly options: StackSamplerOptions) {
    this.frequency = options.frequency ?? 99;
  }

  /** Loads and attaches. Throws {@link Tail2Error} with an actionable message. Returns the CPUs attached. */
  start(): number {
    if (this.started) throw new Error('StackSampler: a sampler starts once; create a new one');
    this.started = true;
    assertSamplingPrivileges();
    const addon = loadNativeAddon();
    const native = new addon.Sampler({
      frequency: this.frequency,
      targetPid: this.options.pid ?? 0,
      ringBufferBytes: this.options.ringBufferBytes ?? 8 << 20,
      batchIntervalMs: this.options.batchIntervalMs ?? 1000,
      maxQueuedBytes: this.options.maxQueuedBytes,
      onBatch: (batch) => {
        this.batchesReceived++;
        this.options.onBatch(batch);
      },
      onError: (error) => this.options.onError?.(fromNativeError(error)),
    });
    let cpus: number;
    try {
      cpus = native.start();
    } catch (error) {
      throw fromNativeError(error);
    }
    this.native = native;
    return cpus;
  }

  /**
   * Detaches every perf event and BPF program and joins the drain thread, then waits until the
   * batches already handed over have reached `onBatch`, so nothing sampled is left behind. Safe to
   * call twice.
   */
  async stop(): Promise<void> {
    if (!this.native) return;
    this.native.stop();
    this.lastStats = this.native.stats();
    this.native = undefined;
    const deadline = Date.now() + 5000;
    while (this.batchesReceived < this.lastStats.deliveredBatches && Date.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Asks the drain thread to hand over what the ring holds now, and resolves when that batch has
   * reached `onBatch` (or after `timeoutMs` when there was nothing to hand over).
   */
  async flush(timeoutMs = 500): Promise<void> {
    if (!this.native) return;
    const before = this.batchesReceived;
    this.native.flush();
    const deadline = Date.now() + timeoutMs;
    while (this.batchesReceived === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Counters so far (after stop: the last counters read). */
  stats(): NativeSamplerStats | undefined {
    return this.native?.stats() ?? this.lastStats;
  }
}

/**
 * Maps BPF timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) to wall-clock time. Node's hrtime is the
 * same clock, so one reading of both gives the offset.
 */
export function monotonicToWallMs(monotonicNs: number): number {
  const nowMonotonicNs = Number(process.hrtime.bigint());
  return Date.now() - (nowMonotonicNs - monotonicNs) / 1e6;
}
