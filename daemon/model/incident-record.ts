import { z } from 'zod';
import { metricInstanceSchema, metricNameSchema } from './metrics.js';
import { notificationOutcomeSchema } from './notification.js';

/**
 * incident.json: an incident's metadata, stored next to its samples and artifacts, and what
 * GET /api/incidents/:id returns (docs/api.md). Read back through {@link parseIncidentRecord}.
 */

/** What fired: a rule crossing its threshold, or a person asking. */
export const incidentTriggerSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('rule'),
    metric: metricNameSchema,
    comparison: z.enum(['above', 'below']),
    /** The value that fired, in the metric's canonical unit. */
    value: z.number(),
    /** The threshold, canonical unit, and as written in the rules file. */
    threshold: z.number(),
    thresholdText: z.string(),
    /** How long the condition held before firing (ms). */
    forMs: z.number(),
  }),
  z.object({ kind: z.literal('manual'), reason: z.string() }),
]);
export type IncidentTrigger = z.infer<typeof incidentTriggerSchema>;

/** One metric's values over the incident window, for the chart on the incident page. */
export const metricSeriesSchema = z.object({
  metric: metricNameSchema,
  instance: metricInstanceSchema,
  /** [wall-clock ms, value in the canonical unit] */
  points: z.array(z.tuple([z.number(), z.number()])),
});
export type MetricSeries = z.infer<typeof metricSeriesSchema>;

/**
 * Something that could not be made or written for an incident, which was stored with the rest.
 * `part` is an artifact's file name (`flamegraph.png`), `profile` (the window could not be
 * symbolized: no artifacts), or `artifacts` (the full write kept failing and the incident was
 * written with incident.json and samples.json.gz alone).
 */
export const incidentProblemSchema = z.object({
  part: z.string(),
  /** What went wrong, in the words of the error. */
  error: z.string(),
  /** The error's code when it had one (ENOSPC, EIO, TAIL2_…). */
  code: z.string().optional(),
});
export type IncidentProblem = z.infer<typeof incidentProblemSchema>;

const isoTime = z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'not an ISO time');

export const incidentRecordSchema = z.object({
  id: z.string(),
  /** The rule's name, or `manual` for `tail2 capture` and POST /api/capture. */
  rule: z.string(),
  /** ISO time the rule fired (or the capture was asked for). */
  fired_at: isoTime,
  host: z.string(),
  kernel: z.string(),
  tail2_version: z.string(),
  status: z.literal('captured'),
  trigger: incidentTriggerSchema,
  /** The scope instance that crossed: the process (pid, comm, cmdline) or cgroup, or the system. */
  instance: metricInstanceSchema,
  /** The triggering process, when the rule watched processes; its stacks are marked in the artifacts. */
  process: z.object({ pid: z.number(), comm: z.string(), cmdline: z.string() }).optional(),
  /** The captured window; `held_since` splits it into baseline (before) and trigger (after). */
  window: z.object({ from: isoTime, to: isoTime, before_ms: z.number(), after_ms: z.number(), held_since: isoTime.nullable() }),
  /** The CPU profile of the window. */
  profile: z.object({ samples: z.number(), stacks: z.number(), processes: z.number(), frequency: z.number() }),
  /**
   * Every kind of profile the window holds, when there is more than CPU: each with its own
   * artifacts (`<kind>.flamegraph.svg` …, docs/api.md); `weight` in the kind's `unit`.
   */
  profiles: z
    .array(
      z.object({
        kind: z.string(),
        unit: z.string(),
        samples: z.number(),
        weight: z.number(),
        /** Samples of what the rule watched (its process, cgroup or unit), when it was not the host. */
        scope_samples: z.number().optional(),
      }),
    )
    .optional(),
  series: z.array(metricSeriesSchema),
  /** The notifiers the rule names. */
  notify: z.array(z.string()),
  /** One entry per notifier: stored as `pending` with the incident (the outbox), then each attempt's outcome. */
  notifications: z.array(notificationOutcomeSchema).default([]),
  /** Present only when part of the incident could not be made or written: what, and why. */
  problems: z.array(incidentProblemSchema).optional(),
});
export type IncidentRecord = z.output<typeof incidentRecordSchema>;

/**
 * Reads incident.json text found on disk, or says what is wrong with it (a record failing this is
 * moved aside as corrupt at the next reconcile): the whole record is checked, field by field.
 */
export function parseIncidentRecord(text: string, expectedId: string): { record: IncidentRecord } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `incident.json is not JSON (${(error as Error).message})` };
  }
  const parsed = incidentRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `incident.json: ${issue.path.length > 0 ? issue.path.join('.') : 'the record'}: ${issue.message}` };
  }
  if (parsed.data.id !== expectedId) return { problem: `incident.json has id ${JSON.stringify(parsed.data.id)}, not its directory's name` };
  return { record: parsed.data };
}
