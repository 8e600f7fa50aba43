import { z } from 'zod';

/**
 * What the metric collectors produce and the trigger engine consumes. Values are in one canonical
 * unit per metric, so rules convert their thresholds once, at load time:
 *
 * | metric            | canonical unit | notes                                                         |
 * |-------------------|----------------|---------------------------------------------------------------|
 * | `cpu`             | cores          | CPU time per second of wall time over the last interval; a    |
 * |                   |                | process at 100% of one core is 1, the whole 8-CPU host busy 8 |
 * | `rss`             | bytes          | resident set (process) or memory.current (cgroup)             |
 * | `rss_growth`      | bytes/second   | slope of rss over a sliding window, robust to one outlier     |
 * | `cache_miss_rate` | misses/second  | hardware cache-misses; `perKiloInstructions` alongside        |
 * | `psi_cpu` …       | fraction 0..1  | share of time stalled ("some", averaged over the interval)    |
 */
export const METRIC_NAMES = ['cpu', 'rss', 'rss_growth', 'cache_miss_rate', 'psi_cpu', 'psi_memory', 'psi_io'] as const;
export const metricNameSchema = z.enum(METRIC_NAMES);
export type MetricName = z.infer<typeof metricNameSchema>;

/** What a reading is about. */
export const metricInstanceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('system') }),
  z.object({
    kind: z.literal('process'),
    pid: z.number(),
    /** start time in clock ticks since boot (from /proc/PID/stat) */
    startTime: z.number(),
    comm: z.string(),
    cmdline: z.string(),
  }),
  z.object({
    kind: z.literal('cgroup'),
    /** path below /sys/fs/cgroup, starting with '/' */
    path: z.string(),
    /** systemd unit when the cgroup is one (e.g. nginx.service) */
    unit: z.string().optional(),
  }),
]);
export type MetricInstance = z.infer<typeof metricInstanceSchema>;

// Keys already made, per instance object: a collector keeps one instance object per process for
// rounds on end, and the rules, the history and the growth windows each ask for its key every round.
const keys = new WeakMap<MetricInstance, string>();

/** A stable key for an instance: pid reuse gives a new key. */
export function instanceKey(instance: MetricInstance): string {
  let key = keys.get(instance);
  if (key === undefined) {
    key = makeKey(instance);
    keys.set(instance, key);
  }
  return key;
}

function makeKey(instance: MetricInstance): string {
  switch (instance.kind) {
    case 'system':
      return 'system';
    case 'process':
      return `process:${instance.pid}:${instance.startTime}`;
    case 'cgroup':
      return `cgroup:${instance.path}`;
  }
}

/** One value of one metric for one instance at one time. */
export interface MetricReading {
  metric: MetricName;
  instance: MetricInstance;
  /** In the metric's canonical unit (see the table above). */
  value: number;
  /** Wall-clock milliseconds of the end of the interval the value covers. */
  timeMs: number;
}

/** Facts the engine needs to turn relative thresholds into canonical units. */
export interface HostFacts {
  /** Online CPUs: `cpu above 90%` on the system scope means 0.9 × cpus cores. */
  cpus: number;
}

/** A metric this host cannot provide, and why (e.g. no hardware PMU for cache misses). */
export interface UnavailableMetric {
  metric: MetricName;
  reason: string;
}
