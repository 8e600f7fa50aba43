import { existsSync, readFileSync } from 'node:fs';
import type { MetricName, MetricReading } from '../model/metrics.js';

const RESOURCES = [
  ['cpu', 'psi_cpu'],
  ['memory', 'psi_memory'],
  ['io', 'psi_io'],
] as const satisfies ReadonlyArray<readonly [string, MetricName]>;

/** The `some` line's `total=` (µs stalled since boot) from a /proc/pressure/* file, or undefined. */
export function parsePressureSomeTotal(text: string): number | undefined {
  if (!text.startsWith('some ')) return undefined;
  const end = text.indexOf('\n');
  const line = end < 0 ? text : text.slice(0, end);
  const at = line.indexOf('total=');
  if (at < 0) return undefined;
  const value = Number(line.slice(at + 6));
  return Number.isFinite(value) ? value : undefined;
}

/** Share of `elapsedMs` stalled, from two `total=` values in µs, clamped to [0, 1]. */
export function stallFraction(previousTotalUs: number, currentTotalUs: number, elapsedMs: number): number {
  if (elapsedMs <= 0) return 0;
  return Math.min(Math.max((currentTotalUs - previousTotalUs) / (elapsedMs * 1000), 0), 1);
}

export interface PressureOptions {
  /** @defaultValue '/proc/pressure' */
  directory?: string;
  /** @defaultValue performance.now */
  monotonicMs?: () => number;
}

/**
 * `psi_cpu`, `psi_memory`, `psi_io` (system instance): the share of the interval in which some task
 * was stalled on the resource, from the `some` line's `total=` µs. Not the kernel's avg10, which
 * is a 10-second exponential average and would lag the interval. The first read sets the baseline.
 */
export class Pressure {
  /** Why PSI is not read (no /proc/pressure), or undefined. */
  readonly unavailableReason: string | undefined;
  private readonly directory: string;
  private readonly monotonicMs: () => number;
  private previous: { totals: Array<number | undefined>; atMs: number } | undefined;

  constructor(options: PressureOptions = {}) {
    this.directory = options.directory ?? '/proc/pressure';
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
    if (!existsSync(`${this.directory}/cpu`)) {
      this.unavailableReason = `pressure stall information is not available: ${this.directory} is missing (a kernel without CONFIG_PSI). psi_* metrics are off; use a 4.20+ kernel built with CONFIG_PSI=y.`;
    } else {
      try {
        readFileSync(`${this.directory}/cpu`, 'latin1');
      } catch (error) {
        // CONFIG_PSI_DEFAULT_DISABLED kernels keep the files but refuse reads until booted with psi=1.
        this.unavailableReason = `pressure stall information is disabled: reading ${this.directory}/cpu failed (${(error as NodeJS.ErrnoException).code ?? String(error)}). psi_* metrics are off; boot with psi=1.`;
      }
    }
  }

  /** Appends one reading per resource (none on the first call) stamped `timeMs` to `out`. */
  collect(timeMs: number, out: MetricReading[] = []): MetricReading[] {
    if (this.unavailableReason !== undefined) return out;
    const totals = RESOURCES.map(([file]) => {
      try {
        return parsePressureSomeTotal(readFileSync(`${this.directory}/${file}`, 'latin1'));
      } catch {
        return undefined;
      }
    });
    const atMs = this.monotonicMs();
    const previous = this.previous;
    this.previous = { totals, atMs };
    if (!previous) return out;
    RESOURCES.forEach(([, metric], i) => {
      const before = previous.totals[i];
      const now = totals[i];
      if (before === undefined || now === undefined) return;
      out.push({ metric, instance: { kind: 'system' }, value: stallFraction(before, now, atMs - previous.atMs), timeMs });
    });
    return out;
  }
}
