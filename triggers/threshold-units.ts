import type { HostFacts, MetricName } from '../daemon/model/metrics.js';
import type { Rule, Threshold } from '../daemon/model/rule.js';
import { METRIC_UNITS } from './threshold.js';

/**
 * The units a threshold may be written in, per metric: the parser's table (threshold.ts), which
 * reports misfits with file:line:col; the engine checks again only as a guard against a hand-built Rule.
 */
export const THRESHOLD_UNITS_BY_METRIC: Readonly<Record<MetricName, readonly Threshold['unit'][]>> = Object.fromEntries(
  (Object.keys(METRIC_UNITS) as MetricName[]).map((metric) => [metric, METRIC_UNITS[metric].units]),
) as Record<MetricName, readonly Threshold['unit'][]>;

/**
 * Converts a rule's threshold to its metric's canonical unit (see `metric-types.ts`), so the engine
 * compares readings with one number:
 *
 * - `cpu` in percent → cores. On the `system` scope a percent is a share of all cores
 *   (`90%` on 8 CPUs = 7.2 cores); on process, pid, cgroup and unit scopes it is a share of one
 *   core, as `top` shows it (`90%` = 0.9 cores). `cpu` in cores is already canonical.
 * - `rss` bytes, `rss_growth` bytes/second, `cache_miss_rate` misses/second: unchanged.
 * - `psi_*` in percent → fraction 0..1 (`25%` = 0.25).
 *
 * @param host - `cpus` is used only for a system-scope cpu percent.
 * @returns the threshold in the metric's canonical unit.
 * @throws Error when the unit does not fit the metric, or the value or CPU count is not usable.
 */
export function canonicalThreshold(rule: Rule, host: HostFacts): number {
  const { metric, threshold, scope } = rule;
  const where = `${rule.location.file}:${rule.location.line}:${rule.location.col}: rule "${rule.name}"`;
  const accepted = THRESHOLD_UNITS_BY_METRIC[metric];
  if (!accepted.includes(threshold.unit)) {
    throw new Error(
      `${where}: threshold "${threshold.text}" is in ${threshold.unit}, which does not fit metric ${metric}; ` +
        `write it in ${accepted.join(' or ')}`,
    );
  }
  if (!Number.isFinite(threshold.value)) {
    throw new Error(`${where}: threshold "${threshold.text}" is not a finite number`);
  }
  if (threshold.unit !== 'percent') return threshold.value;
  if (metric !== 'cpu') return threshold.value / 100;
  if (scope.kind !== 'system') return threshold.value / 100;
  if (!Number.isInteger(host.cpus) || host.cpus < 1) {
    throw new Error(`${where}: cannot turn "${threshold.text}" of the system into cores: host reports ${host.cpus} CPUs`);
  }
  // Multiply before dividing so whole percents give the exact decimal (90 × 8 / 100 = 7.2).
  return (threshold.value * host.cpus) / 100;
}
