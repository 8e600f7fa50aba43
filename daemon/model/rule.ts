import type { MetricName } from './metrics.js';

import type { SourceLocation } from './located-problem.js';

export type { SourceLocation };

/** Which instances a rule watches. */
export type RuleScope =
  | { kind: 'system' }
  /** every process whose comm or full command line matches */
  | { kind: 'process'; pattern: RegExp }
  | { kind: 'pid'; pid: number }
  /** a cgroup v2 path below /sys/fs/cgroup, e.g. /system.slice/nginx.service */
  | { kind: 'cgroup'; path: string }
  /** a systemd unit, e.g. nginx.service */
  | { kind: 'unit'; name: string };

/**
 * A threshold as written (`90%`, `2 cores`, `512MiB`, `10MiB/min`, `5000/s`), with the unit it
 * was written in. The engine converts it to the metric's canonical unit with the host's facts.
 */
export interface Threshold {
  value: number;
  unit: 'percent' | 'cores' | 'bytes' | 'bytes_per_second' | 'per_second' | 'number';
  /** the text as written, for messages and notifications */
  text: string;
}

/** A validated rule (docs/rules.md). Durations in milliseconds. */
export interface Rule {
  name: string;
  metric: MetricName;
  scope: RuleScope;
  /** `above` fires when value > threshold; `below` when value < threshold. */
  comparison: 'above' | 'below';
  threshold: Threshold;
  /** The condition must hold at every evaluation for this long before firing. 0 fires at once. */
  forMs: number;
  capture: { beforeMs: number; afterMs: number };
  /** After firing, the same rule and instance stays quiet this long. */
  cooldownMs: number;
  /** At most this many firings per rule and instance in 24 h. */
  maxPerDay: number;
  /** Notifier names from tail2.yaml. */
  notify: string[];
  /** Where the rule starts in its file. */
  location: SourceLocation;
}

/** Defaults for keys a rule may leave out. */
export const RULE_DEFAULTS = {
  forMs: 0,
  capture: { beforeMs: 60_000, afterMs: 10_000 },
  cooldownMs: 15 * 60_000,
  maxPerDay: 20,
} as const;
