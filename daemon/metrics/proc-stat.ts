import { readFileSync } from 'node:fs';
import type { MetricReading } from '../model/metrics.js';

/**
 * Clock ticks per second in the /proc ABI (`USER_HZ`, what `getconf CLK_TCK` prints). It is part of
 * the kernel's user-space interface, fixed at 100 on every architecture Linux supports today, so
 * it is a constant rather than a per-machine setting.
 */
export const USER_HZ = 100;

/** The aggregate `cpu` line of /proc/stat, in clock ticks since boot. */
export interface ProcStatTimes {
  /** user + nice + system + irq + softirq: time a CPU ran something. */
  busyTicks: number;
  /** idle + iowait: time a CPU had nothing to run. */
  idleTicks: number;
  /** steal: time the hypervisor gave this VM's CPU to someone else (neither busy nor idle here). */
  stealTicks: number;
  /** `cpuN` lines: CPUs the kernel accounts (online ones). */
  cpus: number;
}

/**
 * Parses /proc/stat. `guest` and `guest_nice` are already included in `user` and `nice`, so they
 * are not added again.
 */
export function parseProcStat(text: string): ProcStatTimes {
  const end = text.indexOf('\n');
  const first = text.slice(0, end < 0 ? text.length : end);
  if (!first.startsWith('cpu ')) throw new Error('/proc/stat does not start with the aggregate "cpu" line');
  const f = first.slice(4).trim().split(/\s+/).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  let cpus = 0;
  for (let at = text.indexOf('\ncpu'); at >= 0; at = text.indexOf('\ncpu', at + 1)) {
    const c = text.charCodeAt(at + 4);
    if (c >= 48 && c <= 57) cpus++;
  }
  return { busyTicks: user + nice + system + irq + softirq, idleTicks: idle + iowait, stealTicks: steal, cpus };
}

/**
 * Cores busy between two /proc/stat readings `elapsedMs` apart: Δbusy ticks / wall ticks, clamped
 * to [0, cpus]. A fully busy 2-CPU host is 2.
 */
export function systemCoresBusy(previous: ProcStatTimes, current: ProcStatTimes, elapsedMs: number): number {
  const wallTicks = (elapsedMs / 1000) * USER_HZ;
  const cores = (current.busyTicks - previous.busyTicks) / wallTicks;
  return Math.min(Math.max(cores, 0), Math.max(current.cpus, 1));
}

export interface SystemCpuOptions {
  /** Where /proc is. @defaultValue '/proc' */
  procRoot?: string;
  /** Monotonic milliseconds; intervals are measured on it so wall-clock steps do not skew a rate. @defaultValue performance.now */
  monotonicMs?: () => number;
}

/**
 * System CPU (`cpu` metric, `system` instance) from /proc/stat: cores busy over the interval since
 * the previous `read()`. The first call only sets the baseline and returns no reading.
 */
export class SystemCpu {
  private readonly path: string;
  private readonly monotonicMs: () => number;
  private previous: { times: ProcStatTimes; atMs: number } | undefined;
  /** CPUs in the last /proc/stat read (0 if it could not be read). */
  cpus = 0;

  constructor(options: SystemCpuOptions = {}) {
    this.path = `${options.procRoot ?? '/proc'}/stat`;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
    try {
      this.cpus = parseProcStat(readFileSync(this.path, 'latin1')).cpus;
    } catch {
      // read() reports the failure.
    }
  }

  /** @param timeMs wall-clock ms stamped on the reading (end of the interval). */
  read(timeMs: number): MetricReading | undefined {
    const times = parseProcStat(readFileSync(this.path, 'latin1'));
    const atMs = this.monotonicMs();
    const previous = this.previous;
    this.previous = { times, atMs };
    this.cpus = times.cpus;
    if (!previous || atMs - previous.atMs <= 0) return undefined;
    return { metric: 'cpu', instance: { kind: 'system' }, value: systemCoresBusy(previous.times, times, atMs - previous.atMs), timeMs };
  }
}
