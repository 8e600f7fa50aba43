import type { ProbedProfile } from '../model/profile-kind.js';
import { fromNativeError } from '../model/tail2-error.js';
import { loadNativeAddon, type NativeSampler, type NativeSamplerStats, type ProbeProgram } from './native-addon.js';
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
  /**
   * Unwind tables in BPF: capacities of the rows, mappings and processes maps (see
   * daemon/unwind/unwind-budget.ts). Without, user stacks are walked by frame pointer alone.
   */
  unwind?: { rows: number; mappings: number; processes: number };
  /**
   * Page-fault samples (bpf/sampler.bpf.c `sample_page_fault`): `period` faults per sample at start,
   * 0 for none yet. Given, the program is loaded and {@link StackSampler.setPageFaultPeriod} can
   * switch it live; without, it is not loaded (a CPU-only sampler verifies one program less).
   */
  pageFaults?: { period: number };
  /**
   * The allocation profile (bpf/allocations.h): its programs are loaded, and
   * {@link StackSampler.probeWriter} attaches them to one process at a time.
   */
  allocations?: { meanBytes: number; maxTracked: number };
  /** The copy profile (bpf/copies.h), the same way. */
  copies?: { meanBytes: number };
  /** Receives batches of raw records (see sample-record.ts). Must not throw. */
  onBatch: (batch: Buffer) => void;
  /** The drain thread failed; sampling has stopped. */
  onError?: (error: Error) => void;
}

/** What the unwind loader writes into the sampler's BPF maps (bpf/user-stack.h). */
export interface UnwindMapWriter {
  readonly capacity: { rows: number; mappings: number; processes: number };
  /** Rows (8-byte struct tail2_unwind_row each) at index `first`. */
  writeRows(first: number, rows: Uint8Array): void;
  /** A process's mappings (start, end, bias, rows_first, rows_count each) at `first`, then its entry. */
  setProcess(tgid: number, startTimeNs: bigint, first: number, mappings: BigUint64Array): void;
  deleteProcess(tgid: number): void;
}

/** What attaches one profile's probe sets to processes (daemon/probes/user-probes.ts). */
export interface ProbeWriter {
  readonly profile: ProbedProfile;
  /** See NativeSampler.attachProbes. */
  attach(pid: number, path: string, file: { devMajor: number; devMinor: number; inode: number }, offsets: Partial<Record<ProbeProgram, number[]>>, flags: number): number;
  detach(pid: number): number;
  /** Calls into `pid`'s probed functions since its probes were attached. */
  calls(pid: number): number;
  /** BPF time (ns) and runs of the profile's programs so far (with kernel.bpf_stats_enabled). */
  runTime(): { ns: number; runs: number };
  /** Why none can be attached, when they cannot. */
  readonly unavailable: string | undefined;
}

/**
 * The BPF stack sampler: a cpu-clock perf event on every online CPU, records drained on a native
 * thread and delivered in batches. Start and stop are synchronous; stop leaves nothing attached.
 */
export class StackSampler {
  private currentFrequency: number;
  private currentPageFaultPeriod: number;
  private native: NativeSampler | undefined;
  private lastStats: NativeSamplerStats | undefined;
  private batchesReceived = 0;
  private started = false;

  constructor(private readonly options: StackSamplerOptions) {
    this.currentFrequency = options.frequency ?? 99;
    this.currentPageFaultPeriod = options.pageFaults?.period ?? 0;
  }

  /** Loads and attaches. Throws {@link Tail2Error} with an actionable message. Returns the CPUs attached. */
  start(): number {
    if (this.started) throw new Error('StackSampler: a sampler starts once; create a new one');
    this.started = true;
    assertSamplingPrivileges();
    const addon = loadNativeAddon();
    const native = new addon.Sampler({
      frequency: this.currentFrequency,
      targetPid: this.options.pid ?? 0,
      ringBufferBytes: this.options.ringBufferBytes ?? 8 << 20,
      batchIntervalMs: this.options.batchIntervalMs ?? 1000,
      maxQueuedBytes: this.options.maxQueuedBytes,
      unwindTables: this.options.unwind !== undefined,
      unwindRows: this.options.unwind?.rows,
      unwindMappings: this.options.unwind?.mappings,
      unwindProcesses: this.options.unwind?.processes,
      pageFaultPeriod: this.options.pageFaults?.period,
      allocations: this.options.allocations,
      copies: this.options.copies,
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

  /** Samples per second per CPU. */
  get frequency(): number {
    return this.currentFrequency;
  }

  /**
   * Samples at `hz` from now on: the perf events' period changes in place, so nothing sampled is
   * lost and the unwind tables stay loaded. Throws {@link Tail2Error} when the kernel refuses.
   */
  setFrequency(hz: number): void {
    if (!this.native) throw new Error('StackSampler: not running');
    try {
      this.native.setFrequency(hz);
    } catch (error) {
      throw fromNativeError(error);
    }
    this.currentFrequency = hz;
  }

  /**
   * One page-fault sample per `faults` faults from now on, on every CPU (attaching the page-faults
   * events if none is); 0 detaches them. Needs the `pageFaults` option at construction. Throws
   * {@link Tail2Error} when the kernel refuses.
   */
  setPageFaultPeriod(faults: number): void {
    if (!this.native) throw new Error('StackSampler: not running');
    if (!this.options.pageFaults) throw new Error('StackSampler: started without the pageFaults option');
    try {
      this.native.setPageFaultPeriod(faults);
    } catch (error) {
      // A failed attach leaves none attached, a failed period change the old period: as it was.
      throw fromNativeError(error);
    }
    this.currentPageFaultPeriod = faults;
  }

  /** Faults per page-fault sample now; 0 while page faults are not sampled. */
  get pageFaultPeriod(): number {
    return this.native ? this.currentPageFaultPeriod : 0;
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

  /**
   * The unwind-table maps of the running sampler, for daemon/unwind/unwind-loader.ts; undefined
   * when it runs without tables or is not running.
   */
  unwindMaps(): UnwindMapWriter | undefined {
    const native = this.native;
    if (!native || !this.options.unwind) return undefined;
    return {
      capacity: { ...this.options.unwind },
      writeRows: (first, rows) => native.writeUnwindRows(first, rows),
      setProcess: (tgid, startTimeNs, first, mappings) => native.setUnwindProcess(tgid, startTimeNs, first, mappings),
      deleteProcess: (tgid) => native.deleteUnwindProcess(tgid),
    };
  }

  /**
   * The probes of `profile` on the running sampler; undefined when it was started without that
   * profile (`allocations`, `copies`) or is not running.
   */
  probeWriter(profile: ProbedProfile): ProbeWriter | undefined {
    const native = this.native;
    if (!native || !(profile === 'malloc' ? this.options.allocations : this.options.copies)) return undefined;
    const stats = native.stats();
    const translated = (work: () => number): number => {
      try {
        return work();
      } catch (error) {
        throw fromNativeError(error);
      }
    };
    return {
      profile,
      unavailable: profile === 'malloc' ? stats.allocationsUnavailable : stats.copiesUnavailable,
      attach: (pid, path, file, offsets, flags) => translated(() => native.attachProbes(profile, pid, path, file, offsets, flags)),
      detach: (pid) => translated(() => native.detachProbes(profile, pid)),
      calls: (pid) => native.probeCalls(profile, pid),
      runTime: () => {
        const now = native.stats();
        return profile === 'malloc' ? { ns: now.allocationProbeRunTimeNs, runs: now.allocationProbeRuns } : { ns: now.copyProbeRunTimeNs, runs: now.copyProbeRuns };
      },
    };
  }

  /** `pid`'s copies by size since its copy probes were attached (bpf/copies.h buckets); empty without. */
  copySizes(pid: number): number[] {
    return this.native?.copySizes(pid) ?? [];
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
