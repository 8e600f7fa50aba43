import { readFileSync } from 'node:fs';
import { parseProcPidStat } from '../metrics/process-cpu-rss.js';
import { USER_HZ } from '../metrics/proc-stat.js';
import type { ProbedProfile } from '../model/profile-kind.js';
import type { ProbeProgram } from '../sampler/native-addon.js';
import type { ProbeWriter } from '../sampler/stack-sampler.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';

/** Where one profile's probes go in one process: a file it maps, and the functions' offsets in it. */
export interface ProbePlan {
  /** The executable mapping of the file probed. */
  mapping: ExecutableMapping;
  /** The file offsets each program of the profile probes. */
  offsets: Partial<Record<ProbeProgram, number[]>>;
  /** The profile's cookie bits (bpf/sampler.h). */
  flags: number;
  /** The functions probed, by name, as the status shows them. */
  functions: string[];
}

/**
 * What one profile probes (daemon/probes/allocator-target.ts, copy-target.ts): which file of a
 * process and which functions in it. `plan` throws an Error saying why when the process has none.
 */
export interface ProbeTarget {
  readonly profile: ProbedProfile;
  /** What the probed calls are, in the guard's message: "allocator calls", "copies". */
  readonly calls: string;
  plan(snapshot: ProcessSnapshot): Promise<ProbePlan>;
}

/**
 * How often probed processes are looked at: whether they exited (their probes and allocations are
 * dropped then), and what the probes cost them (the overhead guard).
 */
const CHECK_MS = 1000;
/**
 * What a probed call costs the process besides the BPF program: the breakpoint's trap into the
 * kernel and back (two for an instruction the kernel cannot emulate), and what the trap costs the
 * code after it. Measured on this VM by `npm run bench -- allocations` (bench/RESULTS.md): ~0.4–0.9
 * µs a call when calls come back to back (2M a second), 2–4 µs at 200k a second, 9–10 µs when
 * they are 100 µs apart. The guard interpolates those figures (log–log) at the process's rate,
 * between the bounds below: on a faster host it overestimates, and detaches sooner than it must.
 */
export function trapNsPerCall(callsPerSecond: number): number {
  const ns = TRAP_NS_AT_REFERENCE * Math.pow(Math.max(callsPerSecond, 1) / REFERENCE_CALLS_PER_SECOND, TRAP_COST_SLOPE);
  return Math.min(MAX_TRAP_NS, Math.max(MIN_TRAP_NS, ns));
}
const REFERENCE_CALLS_PER_SECOND = 20_000;
const TRAP_NS_AT_REFERENCE = 9_500;
/** From 9.5 µs at 20k calls/s to 0.6 µs at 2M: 1.2 decades over 2. */
const TRAP_COST_SLOPE = -0.6;
const MIN_TRAP_NS = 400;
const MAX_TRAP_NS = 10_000;
/** The programs' own time per call when kernel.bpf_stats_enabled is off (bench: 70–130 ns). */
const DEFAULT_PROGRAM_NS = 150;
/** Rounds in a row over the budget before the probes go: one busy second is not a trend. */
const OVER_BUDGET_ROUNDS = 2;
/**
 * Probe time a second below which the guard does not judge: 1% of a core, one clock tick (10 ms)
 * of /proc's CPU times, which cannot tell a process's 11 ms from its 20 ms. Below it the probes
 * cost the host nothing it can notice, whatever share of a mostly idle process's CPU that is.
 */
const MIN_JUDGED_PROBE_SHARE_OF_CORE = 0.01;
/** Failures kept for the status. */
const MAX_FAILURES = 16;

export interface UserProbesDeps {
  target: ProbeTarget;
  writer: ProbeWriter;
  /** The process's mappings, read safely (tail2-reader). */
  snapshot(pid: number): Promise<ProcessSnapshot | undefined>;
  /** Told before a process's probes are attached (malloc: its sampled allocations are to be followed). */
  follow?(pid: number): void;
  /** Told when a process's probes go (malloc: its outstanding allocations are no longer followed). */
  forget?(pid: number): void;
  /**
   * The most a process may be slowed by its probes (`probes.max_overhead`): the share of its CPU
   * time they take. Past it two rounds in a row, they are detached and the status says why.
   * @defaultValue 0.05
   */
  maxOverhead?: number;
  /** Wall clock (ms). @defaultValue Date.now */
  now?: () => number;
  /** Where /proc is. @defaultValue /proc */
  procRoot?: string;
}

/** One probed process, as the status shows it. */
export interface ProbedProcess {
  pid: number;
  profile: ProbedProfile;
  /** The file probed, as the process sees it. */
  file: string;
  /** The functions probed in it. */
  functions: string[];
  /** Why it is probed: `tail2 probe`, a rule's name… */
  reason: string;
  sinceMs: number;
  untilMs: number;
  /** Calls into its allocator a second, over the last round; undefined before the first. */
  callsPerSecond?: number;
  /** The share of its CPU time the probes took over the last round (the guard's estimate). */
  overhead?: number;
}

/** A process that could not be probed, and why, in words. */
export interface ProbeFailure {
  pid: number;
  profile: ProbedProfile;
  message: string;
  atMs: number;
}

/** Why a process cannot be probed: `message` reads "cannot probe malloc in PID N: …". */
export class ProbeError extends Error {
  constructor(
    readonly profile: ProbedProfile,
    readonly pid: number,
    why: string,
    /** Refused because enough processes are probed on request already. */
    readonly tooMany = false,
  ) {
    super(`cannot probe ${profile} in PID ${pid}: ${why}`);
    this.name = 'ProbeError';
  }
}

interface Attached extends ProbedProcess {
  startTicks: number;
  /** When the probes were attached (CLOCK_MONOTONIC ns, the records' clock). */
  attachedAtNs: number;
  timer: NodeJS.Timeout;
  /** The guard's last reading: calls so far, the process's CPU ticks, when. */
  last?: { calls: number; cpuTicks: number; atMs: number };
  overRounds: number;
}

/**
 * One profile's probes, one process at a time (docs/profiles.md): the target says which file of
 * the process and which functions in it (read by tail2-reader, never in the daemon); the session
 * uprobes go on through /proc/PID/map_files, the very file the process maps, for that process
 * only. Each attach lasts a while (`forMs`); attaching again extends it. A process that exits
 * loses its probes at the next check, and the overhead guard removes probes that cost the
 * process more than `maxOverhead` of its CPU time.
 */
export class UserProbes {
  private readonly attached = new Map<number, Attached>();
  /** Attaches under way: a second request for the same pid waits for the first. */
  private readonly attaching = new Map<number, Promise<ProbedProcess>>();
  /** Attaches under way that a detach, exit or exec overtook: they end as soon as they can. */
  private readonly cancelled = new Map<number, string>();
  private readonly failures: ProbeFailure[] = [];
  /** The profile's programs' run time at the last round (kernel.bpf_stats_enabled). */
  private lastRunTime = { ns: 0, runs: 0 };
  private readonly exitTimer: NodeJS.Timeout;

  constructor(private readonly deps: UserProbesDeps) {
    this.exitTimer = setInterval(() => this.safely(0, () => this.check()), CHECK_MS);
    this.exitTimer.unref();
  }

  /**
   * Probes `pid` for `forMs` from now (or extends its probes to then). Rejects with a
   * {@link ProbeError} saying why it cannot (nothing to probe found, a kernel without session
   * uprobes, a process gone), recorded for the status too.
   */
  async attach(pid: number, forMs: number, reason: string, maxRequested?: number): Promise<ProbedProcess> {
    // Requests (not rules) probe at most `maxRequested` processes at once, this one aside.
    if (maxRequested !== undefined && !this.attached.has(pid)) {
      const requested = [...this.attached.values()].filter((entry) => !entry.reason.startsWith('rule ')).length + this.attaching.size;
      if (requested >= maxRequested) throw new ProbeError(this.profile, pid, `${maxRequested} processes are probed on request already: remove some first (tail2 probe ${this.profile} --pid N --stop)`, true);
    }
    const underWay = this.attaching.get(pid);
    if (underWay) {
      await underWay.catch(() => undefined);
      return this.attach(pid, forMs, reason);
    }
    const existing = this.attached.get(pid);
    if (existing && this.stillRuns(existing)) {
      existing.untilMs = Math.max(existing.untilMs, this.now() + forMs);
      this.schedule(existing);
      return this.view(existing);
    }
    if (existing) this.detach(pid); // the pid is another process's now
    const attaching = this.attachNew(pid, forMs, reason);
    this.attaching.set(pid, attaching);
    try {
      return await attaching;
    } finally {
      this.attaching.delete(pid);
      this.cancelled.delete(pid);
    }
  }

  /** Throws when an attach of `pid` under way was cancelled meanwhile. */
  private checkCancelled(pid: number): void {
    const why = this.cancelled.get(pid);
    if (why !== undefined) throw new ProbeError(this.profile, pid, why);
  }

  /**
   * `pid` replaced its image (exec) or exited: its probes and what they followed go, and the
   * status says so when it was probed. A new image is not probed again on its own.
   */
  processGone(pid: number, timeNs: number, why: string): void {
    if (this.attaching.has(pid)) this.cancelled.set(pid, `probes removed: ${why}`);
    const entry = this.attached.get(pid);
    // An exec before the probes were attached is the image they were attached to.
    if (!entry || timeNs < entry.attachedAtNs) return;
    // Called from the ingest: a detach the kernel refuses is the status's, never the batch's.
    this.safely(pid, () => {
      this.detach(pid);
      this.fail(new ProbeError(this.profile, pid, `probes removed: ${why}`));
    });
  }

  private async attachNew(pid: number, forMs: number, reason: string): Promise<ProbedProcess> {
    const now = this.now();
    try {
      if (this.deps.writer.unavailable) throw new ProbeError(this.profile, pid, this.deps.writer.unavailable);
      // Which process this is: the pid with its start time, read before anything else.
      const startTicks = this.startTicksOf(pid);
      if (startTicks === undefined) throw new ProbeError(this.profile, pid, 'no such process');
      const attachedAtNs = Number(process.hrtime.bigint());
      const snapshot = await this.deps.snapshot(pid);
      this.checkCancelled(pid);
      if (!snapshot) throw new ProbeError(this.profile, pid, 'the process is gone, or its mappings could not be read');
      let plan: ProbePlan;
      try {
        plan = await this.deps.target.plan(snapshot);
      } catch (error) {
        throw new ProbeError(this.profile, pid, (error as Error).message);
      }
      this.checkCancelled(pid);
      const { mapping } = plan;
      // Only code the process maps executable is probed.
      const mapped = (offset: number) => offset >= mapping.offset && offset < mapping.offset + (mapping.end - mapping.start);
      if (!Object.values(plan.offsets).every((at) => at.every(mapped))) throw new ProbeError(this.profile, pid, `a function to probe in ${mapping.path} is outside its executable mapping`);
      const path = `/proc/${pid}/map_files/${mapping.start.toString(16)}-${mapping.end.toString(16)}`;
      this.deps.follow?.(pid);
      try {
        this.deps.writer.attach(pid, path, mapping, plan.offsets, plan.flags);
      } catch (error) {
        this.deps.forget?.(pid);
        throw new ProbeError(this.profile, pid, (error as Error).message);
      }
      const entry: Attached = {
        pid,
        profile: this.profile,
        file: mapping.path,
        functions: plan.functions,
        reason,
        sinceMs: now,
        untilMs: now + forMs,
        startTicks,
        attachedAtNs,
        timer: setTimeout(() => undefined, 0),
        overRounds: 0,
      };
      this.attached.set(pid, entry);
      this.schedule(entry);
      return this.view(entry);
    } catch (error) {
      throw this.fail(error instanceof ProbeError ? error : new ProbeError(this.profile, pid, (error as Error).message));
    }
  }

  /** Keeps `failure` for the status; returns it. */
  private fail(failure: ProbeError): ProbeError {
    this.failures.push({ pid: failure.pid, profile: failure.profile, message: failure.message, atMs: this.now() });
    if (this.failures.length > MAX_FAILURES) this.failures.shift();
    return failure;
  }

  /** Removes `pid`'s probes (none is fine; an attach under way is cancelled) and forgets what they followed. */
  detach(pid: number): void {
    if (this.attaching.has(pid)) this.cancelled.set(pid, 'probes removed while being attached');
    const entry = this.attached.get(pid);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.attached.delete(pid);
    try {
      this.deps.writer.detach(pid);
    } finally {
      this.deps.forget?.(pid);
    }
  }

  /** Whether `pid` is probed now. */
  has(pid: number): boolean {
    return this.attached.has(pid);
  }

  status(): { processes: ProbedProcess[]; failures: ProbeFailure[] } {
    return { processes: [...this.attached.values()].map((entry) => this.view(entry)), failures: [...this.failures] };
  }

  /** Detaches everything. */
  close(): void {
    clearInterval(this.exitTimer);
    for (const pid of [...this.attached.keys()]) this.detach(pid);
  }

  private schedule(entry: Attached): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this.safely(entry.pid, () => this.detach(entry.pid)), Math.max(0, entry.untilMs - this.now()));
    entry.timer.unref();
  }

  /** Runs a timer's work: a failure (the kernel refused a detach, a map read) is the status's, never an uncaught error. */
  private safely(pid: number, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.attached.delete(pid);
      this.fail(new ProbeError(this.profile, pid, `the probes failed: ${(error as Error).message}`));
    }
  }

  /** Once a round: drops the probes of processes gone, then holds each one's cost to the budget. */
  private check(): void {
    // Nothing probed, nothing to read (the programs' run time is a read of every program's fdinfo).
    if (this.attached.size === 0) return;
    const run = this.deps.writer.runTime();
    const runs = run.runs - this.lastRunTime.runs;
    // The programs' own time per call, over the round (every probed process's together).
    const programNs = runs > 0 && run.ns > this.lastRunTime.ns ? (run.ns - this.lastRunTime.ns) / runs : DEFAULT_PROGRAM_NS;
    this.lastRunTime = run;
    for (const entry of [...this.attached.values()]) {
      this.safely(entry.pid, () => {
        const stat = this.statOf(entry.pid);
        if (!stat || stat.startTicks !== entry.startTicks) {
          this.detach(entry.pid);
          this.fail(new ProbeError(this.profile, entry.pid, 'probes removed: the process exited'));
          return;
        }
        this.guard(entry, stat.cpuTicks, programNs);
      });
    }
  }

  /**
   * The overhead guard: the calls of the round times what each costs (trap and program), against
   * the process's CPU time in the round: past `maxOverhead` two rounds in a row, the probes go.
   */
  private guard(entry: Attached, cpuTicks: number, programNs: number): void {
    const calls = this.deps.writer.calls(entry.pid);
    const atMs = this.now();
    const last = entry.last;
    entry.last = { calls, cpuTicks, atMs };
    if (!last || atMs <= last.atMs) return;
    const seconds = (atMs - last.atMs) / 1000;
    const callsInRound = Math.max(0, calls - last.calls);
    const cpuSeconds = Math.max(0, cpuTicks - last.cpuTicks) / USER_HZ;
    // The trap's cost follows how close together one thread's calls come: the rate per CPU-second
    // the process ran, not per second of wall time (16 threads calling sparsely are not one busy one).
    const probeSeconds = (callsInRound * (trapNsPerCall(callsInRound / Math.max(cpuSeconds, 1 / USER_HZ)) + programNs)) / 1e9;
    entry.callsPerSecond = callsInRound / seconds;
    // The probes' time is in the process's CPU time (the traps run in its context): its share is
    // what the process would not have spent without them, the slowdown of its work.
    entry.overhead = probeSeconds / Math.max(cpuSeconds, probeSeconds, 1 / USER_HZ);
    const budget = this.deps.maxOverhead ?? 0.05;
    const judged = probeSeconds / seconds >= MIN_JUDGED_PROBE_SHARE_OF_CORE;
    entry.overRounds = judged && entry.overhead > budget ? entry.overRounds + 1 : 0;
    if (entry.overRounds < OVER_BUDGET_ROUNDS) return;
    const percent = (share: number) => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
    this.detach(entry.pid);
    this.fail(
      new ProbeError(
        this.profile,
        entry.pid,
        `probes removed by the overhead guard: ${Math.round(entry.callsPerSecond).toLocaleString('en-US')} ${this.deps.target.calls} a second took ~${percent(entry.overhead)} of its CPU time, over probes.max_overhead (${percent(budget)})`,
      ),
    );
  }

  /** The same process still runs at the pid (same start time). */
  private stillRuns(entry: Attached): boolean {
    return this.statOf(entry.pid)?.startTicks === entry.startTicks;
  }

  private startTicksOf(pid: number): number | undefined {
    return this.statOf(pid)?.startTicks;
  }

  /**
   * When `pid` started and the CPU it used (clock ticks), from /proc/PID/stat, which the kernel
   * writes (the process controls only its name there, which the parser steps over); undefined
   * when it is gone or a zombie.
   */
  private statOf(pid: number): { startTicks: number; cpuTicks: number } | undefined {
    try {
      const text = readFileSync(`${this.deps.procRoot ?? '/proc'}/${pid}/stat`, 'utf8');
      const state = text.charAt(text.lastIndexOf(')') + 2);
      if (state === 'Z' || state === 'X') return undefined;
      const stat = parseProcPidStat(text);
      return { startTicks: stat.startTime, cpuTicks: stat.cpuTicks };
    } catch {
      return undefined;
    }
  }

  private view(entry: Attached): ProbedProcess {
    const { pid, profile, file, functions, reason, sinceMs, untilMs, callsPerSecond, overhead } = entry;
    return { pid, profile, file, functions, reason, sinceMs, untilMs, callsPerSecond, overhead };
  }

  private get profile(): ProbedProfile {
    return this.deps.target.profile;
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
