import type { Logger } from 'pino';
import type { RuleEvent } from '../../triggers/rule-engine.js';
import type { Tail2Config } from '../model/config.js';
import { copySizeBuckets } from '../model/copy-sizes.js';
import type { ProbesStatus } from '../model/daemon-status.js';
import { PROBED_PROFILES, type ProbedProfile } from '../model/profile-kind.js';
import { AllocatorTarget } from '../probes/allocator-target.js';
import { CopyTarget } from '../probes/copy-target.js';
import { ProbeError, UserProbes, type ProbedProcess, type ProbeFailure } from '../probes/user-probes.js';
import { AllocationLedger } from '../profile/allocation-ledger.js';
import type { StackTable } from '../profile/stack-table.js';
import type { NativeSamplerStats } from '../sampler/native-addon.js';
import type { ProbeWriter } from '../sampler/stack-sampler.js';
import type { ProcessFiles } from '../symbols/process-files.js';

/** How long rule-driven probes outlast the capture window: its symbolizing and writing. */
const RULE_PROBE_MARGIN_MS = 60_000;

export interface ProbingOptions {
  config: Pick<Tail2Config['sampling'], 'allocations' | 'copies'>;
  /** `probes.max_overhead`. */
  maxOverhead: number;
  stacks: StackTable;
  files: ProcessFiles;
  log: Logger;
}

/**
 * The daemon's uprobe-based profiles (docs/profiles.md#allocations, #copies): the ledger of
 * outstanding sampled allocations the ingest feeds, and each profile's probes, attached on demand
 * (`tail2 probe malloc|memcpy`, POST /api/probes, rules on `rss_growth`) once the sampler runs.
 */
export class Probing {
  /** Undefined with `sampling.allocations.mode: off`: allocation records are then never written. */
  readonly ledger: AllocationLedger | undefined;
  private readonly probes = new Map<ProbedProfile, UserProbes>();
  private copySizes: (pid: number) => number[] = () => [];
  private readonly unavailable = new Map<ProbedProfile, string>(PROBED_PROFILES.map((profile) => [profile, 'the sampler is not running yet']));

  constructor(private readonly options: ProbingOptions) {
    this.ledger = options.config.allocations.mode === 'off' ? undefined : new AllocationLedger(options.stacks, options.config.allocations.meanBytes);
  }

  /**
   * Once the sampler runs: `writers` are its probes per profile (undefined where its programs
   * are not loaded); `copySizes` reads a process's copies by size (bpf/copies.h).
   */
  start(writers: (profile: ProbedProfile) => ProbeWriter | undefined, copySizes: (pid: number) => number[]): void {
    this.copySizes = copySizes;
    const { files, log } = this.options;
    for (const profile of PROBED_PROFILES) {
      const writer = writers(profile);
      if (!writer) {
        this.unavailable.set(profile, profile === 'malloc' ? 'sampling.allocations.mode is off' : 'sampling.copies.mode is off');
        continue;
      }
      if (writer.unavailable) {
        this.unavailable.set(profile, writer.unavailable);
        log.warn({ profile, reason: writer.unavailable }, 'a probed profile is unavailable');
        continue;
      }
      const ledger = this.ledger;
      const target =
        profile === 'malloc'
          ? new AllocatorTarget((process, mapping, names) => files.functionOffsets(process, mapping, names))
          : new CopyTarget((process, mapping, names) => files.resolvedFunctions(process, mapping, names));
      this.probes.set(
        profile,
        new UserProbes({
          target,
          writer,
          snapshot: (pid) => files.snapshot(pid),
          follow: profile === 'malloc' && ledger ? (pid) => ledger.follow(pid) : undefined,
          forget: profile === 'malloc' && ledger ? (pid) => ledger.forget(pid) : undefined,
          maxOverhead: this.options.maxOverhead,
        }),
      );
    }
  }

  /**
   * Probes `pid` for `profile` for `forMs` (or extends it); rejects with a ProbeError saying why
   * it cannot. `maxRequested`: at most so many processes probed on request at once, per profile.
   */
  async attach(profile: ProbedProfile, pid: number, forMs: number, reason: string, maxRequested?: number): Promise<ProbedProcess> {
    const probes = this.probes.get(profile);
    if (!probes) throw new ProbeError(profile, pid, this.unavailable.get(profile) ?? 'unavailable');
    const probed = await probes.attach(pid, forMs, reason, maxRequested);
    this.options.log.info({ profile, pid, file: probed.file, until: new Date(probed.untilMs).toISOString(), reason }, 'probes attached');
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
    if (!this.probes.has('malloc')) return;
    // Until the capture that firing starts has its window: `for` (pending) plus the `after` part, and a margin for the write.
    const forMs = (event.type === 'pending' ? rule.forMs : 0) + rule.capture.afterMs + RULE_PROBE_MARGIN_MS;
    this.attach('malloc', instance.pid, forMs, `rule ${rule.name}`).catch((error: Error) =>
      this.options.log.warn({ rule: rule.name, pid: instance.pid, err: error }, 'the allocation probes could not follow the rule'),
    );
  }

  /** An exec or exit record of `pid` at `timeNs` (monotonic): probes on its old image, and what they followed, go. */
  processGone(pid: number, timeNs: number): void {
    for (const probes of this.probes.values()) probes.processGone(pid, timeNs, 'the process exec’d a new image or exited');
  }

  /** Sampling stopped on an error: the probes go too (nothing would read what they write), and the status says why. */
  samplingStopped(reason: string): void {
    this.stop();
    for (const profile of PROBED_PROFILES) this.unavailable.set(profile, `sampling stopped: ${reason}`);
  }

  /** Removes `pid`'s probes of `profile` (every profile's when undefined); false when it had none. */
  detach(pid: number, profile?: ProbedProfile): boolean {
    let detached = false;
    for (const [name, probes] of this.probes) {
      if ((profile !== undefined && name !== profile) || !probes.has(pid)) continue;
      probes.detach(pid);
      detached = true;
    }
    return detached;
  }

  /** Detaches every probe (before the sampler stops). */
  stop(): void {
    for (const probes of this.probes.values()) probes.close();
    this.probes.clear();
    for (const profile of PROBED_PROFILES) this.unavailable.set(profile, 'tail2d is stopping');
  }

  status(stats: NativeSamplerStats | undefined): ProbesStatus {
    const ledger = this.ledger?.stats();
    const iso = (ms: number) => new Date(ms).toISOString();
    const processes: ProbedProcess[] = [];
    const failures: ProbeFailure[] = [];
    for (const probes of this.probes.values()) {
      const status = probes.status();
      processes.push(...status.processes);
      failures.push(...status.failures);
    }
    failures.sort((a, b) => a.atMs - b.atMs);
    const profile = (name: ProbedProfile, meanBytes: number) => ({
      available: this.probes.has(name),
      reason: this.probes.has(name) ? null : (this.unavailable.get(name) ?? null),
      mean_bytes: meanBytes,
    });
    return {
      profiles: { malloc: profile('malloc', this.options.config.allocations.meanBytes), memcpy: profile('memcpy', this.options.config.copies.meanBytes) },
      max_overhead: this.options.maxOverhead,
      processes: processes.map((p) => ({
        pid: p.pid,
        kind: p.profile,
        file: p.file,
        functions: p.functions,
        reason: p.reason,
        since: iso(p.sinceMs),
        until: iso(p.untilMs),
        calls_per_second: p.callsPerSecond === undefined ? null : Math.round(p.callsPerSecond),
        overhead: p.overhead ?? null,
        ...(p.profile === 'memcpy' ? { copy_sizes: copySizeBuckets(this.copySizes(p.pid)).map((b) => ({ from: b.from, to: Number.isFinite(b.to) ? b.to : null, count: b.count })) } : {}),
      })),
      failures: failures.map((f) => ({ pid: f.pid, kind: f.profile, message: f.message, at: iso(f.atMs) })),
      outstanding: { allocations: ledger?.outstanding ?? 0, bytes: Math.round(ledger?.outstandingBytes ?? 0), processes: ledger?.processes ?? 0, memory_bytes: ledger?.memoryBytes ?? 0 },
      kernel: {
        samples: stats?.allocationSamples ?? 0,
        frees: stats?.allocationFrees ?? 0,
        untracked: stats?.allocationsUntracked ?? 0,
        tracked_capacity: stats?.allocationTrackedCapacity ?? 0,
        probe_runs: stats?.allocationProbeRuns ?? 0,
        probe_run_time_ns: stats?.allocationProbeRunTimeNs ?? 0,
        copy_samples: stats?.copySamples ?? 0,
        copy_probe_runs: stats?.copyProbeRuns ?? 0,
        copy_probe_run_time_ns: stats?.copyProbeRunTimeNs ?? 0,
      },
    };
  }
}
