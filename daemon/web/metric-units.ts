import type { MetricInstance, MetricName } from '../model/metrics.js';

const MiB = 1024 * 1024;

/** How a metric's canonical values (metric-types.ts) are shown on a chart axis. */
export interface ChartUnit {
  /** Axis label: `% of a core`, `cores`, `MiB`, `MiB/min`, `misses/s`, `% stalled`. */
  label: string;
  /** Canonical value × factor = the shown value. */
  factor: number;
}

/**
 * The unit people think in for each metric: cpu as % of one core for a process or cgroup (as
 * `top`) and as cores busy for the whole host; memory in MiB; growth in MiB per minute; pressure
 * as % of time stalled.
 */
export function chartUnit(metric: MetricName, instance: Pick<MetricInstance, 'kind'>): ChartUnit {
  switch (metric) {
    case 'cpu':
      return instance.kind === 'system' ? { label: 'cores busy', factor: 1 } : { label: '% of a core', factor: 100 };
    case 'rss':
      return { label: 'MiB', factor: 1 / MiB };
    case 'rss_growth':
      return { label: 'MiB/min', factor: 60 / MiB };
    case 'cache_miss_rate':
      return { label: 'misses/s', factor: 1 };
    case 'psi_cpu':
    case 'psi_memory':
    case 'psi_io':
      return { label: '% stalled', factor: 100 };
  }
}

/** `97% of a core`, `1.5 cores busy`, `512 MiB`: a percent sign sits against its number. */
export function withUnit(value: string, unit: ChartUnit): string {
  return unit.label.startsWith('%') ? `${value}${unit.label}` : `${value} ${unit.label}`;
}
