import type { NotificationOutcome } from '../../notifiers/notification.js';
import type { MetricInstance, MetricName } from '../metrics/metric-types.js';

/** What fired: a rule crossing its threshold, or a person asking. */
export type IncidentTrigger =
  | {
      kind: 'rule';
      metric: MetricName;
      comparison: 'above' | 'below';
      /** The value that fired, in the metric's canonical unit. */
      value: number;
      /** The threshold, canonical unit, and as written in the rules file. */
      threshold: number;
      thresholdText: string;
      /** How long the condition held before firing (ms). */
      forMs: number;
    }
  | { kind: 'manual'; reason: string };

/** One metric's values over the incident window, for the chart on the incident page. */
export interface MetricSeries {
  metric: MetricName;
  instance: MetricInstance;
  /** [wall-clock ms, value in the canonical unit] */
  points: Array<[number, number]>;
}

/**
 * Something that could not be made or written for an incident, which was stored with the rest.
 * `part` is an artifact's file name (`flamegraph.png`), `profile` (the window could not be
 * symbolized: no artifacts), or `artifacts` (the full write kept failing and the incident was
 * written with incident.json and samples.json.gz alone).
 */
export interface IncidentProblem {
  part: string;
  /** What went wrong, in the words of the error. */
  error: string;
  /** The error's code when it had one (ENOSPC, EIO, TAIL2_…). */
  code?: string;
}

/**
 * The incident's metadata, stored as incident.json next to its samples and artifacts. Field names
 * are what GET /api/incidents/:id returns.
 */
export interface IncidentRecord {
  id: string;
  /** The rule's name, or `manual` for `tail2 capture` and POST /api/capture. */
  rule: string;
  /** ISO time the rule fired (or the capture was asked for). */
  fired_at: string;
  host: string;
  kernel: string;
  tail2_version: string;
  status: 'captured';
  trigger: IncidentTrigger;
  /** The scope instance that crossed: the process (pid, comm, cmdline) or cgroup, or the system. */
  instance: MetricInstance;
  /** The triggering process, when the rule watched processes; its stacks are marked in the artifacts. */
  process?: { pid: number; comm: string; cmdline: string };
  /** The captured window; `held_since` splits it into baseline (before) and trigger (after). */
  window: { from: string; to: string; before_ms: number; after_ms: number; held_since: string | null };
  profile: { samples: number; stacks: number; processes: number; frequency: number };
  series: MetricSeries[];
  /** The notifiers the rule names. */
  notify: string[];
  /** One entry per notifier: stored as `pending` with the incident (the outbox), then each attempt's outcome. */
  notifications: NotificationOutcome[];
  /** Present only when part of the incident could not be made or written: what, and why. */
  problems?: IncidentProblem[];
}
