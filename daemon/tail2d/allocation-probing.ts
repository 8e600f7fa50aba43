import type { Logger } from 'pino';
import type { RuleEvent } from '../../triggers/rule-engine.js';
import type { Tail2Config } from '../model/config.js';
import type { ProbesStatus } from '../model/daemon-status.js';
import { AllocationProbes, ProbeError, type ProbedProcess } from '../probes/allocation-probes.js';
import { AllocationLedger } from '../profile/allocation-ledger.js';
import type { StackTable } from '../profile/stack-table.js';
import type { NativeSamplerStats } from '../sampler/native-addon.js';
import type { AllocationProbeWriter } from '../sampler/stack-sampler.js';
import type { ProcessFiles } from '../symbols/process-files.js';

/** How long rule-driven probes outlast the capture window: its symbolizing and writing. */
const RULE_PROBE_MARGIN_MS = 60_000;

export interface AllocationProbingOptions {
  config: Tail2Config['sampling']['allocations'];
  /** `probes.max_overhead`. */
  maxOverhead: number;
  stacks: StackTable;
  files: ProcessFiles;
  log: Logger;
}

/**
 * The daemon's allocation profile (docs/profiles.md#allocations): the ledger of outstanding
 * sampled allocations the ingest feeds, and the probes attached on demand (`tail2 probe malloc`,
 * POST /api/probes), once the sampler runs.
 */
export class AllocationProbing {
  /** Undefined with `sampling.allocations.mode: off`: allocation records are then never written. */
  readonly ledger: AllocationLedger | undefined;
  private probes: AllocationProbes | undefined;
  private unavailable = 'the sampler is not running yet';

  constructor(private readonly options: AllocationProbingOptions) {
    this.ledger = options.config.mode === 'off' ? undefined : new AllocationLedger(options.stacks, options.config.meanBytes);
  }

  /** Once the sampler runs: `writer` is its probes (undefined when its programs are not loaded). */
  start(writer: AllocationProbeWriter | undefined): void {
    const { files, log } = this.options;
    const ledger = this.ledger;
    if (!writer || !ledger) {
      this.unavailable = 'sampling.allocations.mode is off';
      return;
    }
    if (writer.unavailable) {
      this.unavailable = writer.unavailable;
      log.warn({ reason: writer.unavailable }, 'the allocation profile is unavailable');
      return;
    }
    this.probes = new AllocationProbes({
      writer,
      snapshot: (pid) => files.snapshot(pid),
      functionOffsets: (process, mapping, names) => files.functionOffsets(process, mapping, names),
      follow: (pid) => ledger.follow(pid),
      forget: (pid) => ledger.forget(pid),
      maxOverhead: this.options.maxOverhead,
    });
  }

  /**
   * Probes `pid`'s allocator for `forMs` (or extends it); rejects with a ProbeError saying why it
   * cannot. `maxRequested`: at most so many processes probed on request at once.
   */
  async attach(pid: number, forMs: number, reason: string, maxRequested?: number): Promise<ProbedProcess> {
    if (!this.probes) throw new ProbeError(pid, this.unavailable);
    const probed = await this.probes.attach(pid, forMs, reason, maxRequested);
    this.options.log.info({ pid, allocator: probed.allocator, until: new Date(probed.untilMs).toISOString(), reason }, 'allocation probes attached');
    return probed;
  }

  /**
   * A rule on `rss_growth` that goes pending for a process probes its allocator for the pending
   * window and the capture after it, so the incident that fires carries the allocations of the
   * growth itself; firing extends the probes to the capture's end. A process that cannot be probed
   * is logged and listed in the status; the rule and its capture go on regardless.
   */
  onRuleEvent(event: RuleEvent): void {
    const { rule, instance } = event;
    if (rule.metric !== 'rss_growth' || instance.kind !== 'process' || (event.type !== 'pending' && event.type !== 'firing')) return;
    if (!this.probes) return;
    // Until the capture that firing starts has its window: `for` (pending) plus the `after` part, and a margin for the write.
    const forMs = (event.type === 'pending' ? rule.forMs : 0) + rule.capture.afterMs + RULE_PROBE_MARGIN_MS;
    this.attach(instance.pid, forMs, `rule ${rule.name}`).catch((error: Error) => this.options.log.warn({ rule: rule.name, pid: instance.pid, err: error }, 'the allocation probes could not follow the rule'));
  }

  /** An exec or exit record of `pid` at `timeNs` (monotonic): probes on its old image, and what they followed, go. */
  processGone(pid: number, timeNs: number): void {
    this.probes?.processGone(pid, timeNs, 'the process exec’d a new image or exited');
  }

  /** Sampling stopped on an error: the probes go too (nothing would read what they write), and the status says why. */
  samplingStopped(reason: string): void {
    this.stop();
    this.unavailable = `sampling stopped: ${reason}`;
  }

  /** Removes `pid`'s probes; false when it had none. */
  detach(pid: number): boolean {
    if (!this.probes?.has(pid)) return false;
    this.probes.detach(pid);
    return true;
  }

  /** Detaches every probe (before the sampler stops). */
  stop(): void {
    this.probes?.close();
    this.probes = undefined;
    this.unavailable = 'tail2d is stopping';
  }

  status(stats: NativeSamplerStats | undefined): ProbesStatus {
    const probes = this.probes?.status() ?? { processes: [], failures: [] };
    const ledger = this.ledger?.stats();
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      available: this.probes !== undefined,
      reason: this.probes ? null : this.unavailable,
      mean_bytes: this.options.config.meanBytes,
      max_overhead: this.options.maxOverhead,
      processes: probes.processes.map((p) => ({
        pid: p.pid,
        kind: 'malloc',
        allocator: p.allocator,
        functions: p.functions,
        reason: p.reason,
        since: iso(p.sinceMs),
        until: iso(p.untilMs),
        calls_per_second: p.callsPerSecond === undefined ? null : Math.round(p.callsPerSecond),
        overhead: p.overhead ?? null,
      })),
      failures: probes.failures.map((f) => ({ pid: f.pid, message: f.message, at: iso(f.atMs) })),
      outstanding: { allocations: ledger?.outstanding ?? 0, bytes: Math.round(ledger?.outstandingBytes ?? 0), processes: ledger?.processes ?? 0, memory_bytes: ledger?.memoryBytes ?? 0 },
      kernel: {
        samples: stats?.allocationSamples ?? 0,
        frees: stats?.allocationFrees ?? 0,
        untracked: stats?.allocationsUntracked ?? 0,
        tracked_capacity: stats?.allocationTrackedCapacity ?? 0,
        probe_runs: stats?.allocationProbeRuns ?? 0,
        probe_run_time_ns: stats?.allocationProbeRunTimeNs ?? 0,
      },
    };
  }
}
