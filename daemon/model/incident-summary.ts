import { z } from 'zod';

/**
 * summary.json: the incident's numbers in a few dozen lines — the hottest functions, the busiest
 * processes, what changed since the baseline window. Written once with the incident
 * (daemon/capture/summarize-incident.ts); notifications and the incident page read it back through
 * {@link parseIncidentSummary} instead of re-reading the samples. Shares are fractions (0–1);
 * changes are percentage points.
 */

/** What a frame is: kernel, native user code, JIT code, or not known. */
const frameKind = z.enum(['kernel', 'native', 'jit', 'unknown']);

/** One function's share of the samples. */
export const functionShareSchema = z.object({
  name: z.string(),
  module: z.string().optional(),
  kind: frameKind,
  /** Share of samples in which it was the running function (the leaf). */
  selfShare: z.number(),
  /** Share of samples in which it was anywhere on the stack, each sample counted once even under recursion. */
  totalShare: z.number(),
  /** The same shares in the baseline window; present when there is a baseline. */
  selfShareBefore: z.number().optional(),
  totalShareBefore: z.number().optional(),
  /** `selfShare − selfShareBefore` in percentage points (e.g. +19.5); present when there is a baseline. */
  change: z.number().optional(),
  /** `totalShare − totalShareBefore` in percentage points; present when there is a baseline. */
  totalChange: z.number().optional(),
});
export type FunctionShare = z.infer<typeof functionShareSchema>;

/** A function whose self share moved between the baseline and the trigger window. */
export const functionChangeSchema = z.object({
  name: z.string(),
  module: z.string().optional(),
  kind: frameKind,
  /** Self share (0–1) in the baseline and in the trigger window. */
  selfShareBefore: z.number(),
  selfShare: z.number(),
  /** `selfShare − selfShareBefore` in percentage points: positive in `grew`, negative in `shrank`. */
  change: z.number(),
});
export type FunctionChange = z.infer<typeof functionChangeSchema>;

/** A process's part of the trigger window. */
export const processShareSchema = z.object({
  pid: z.number(),
  /** The thread name with the most samples in this process. */
  comm: z.string(),
  samples: z.number(),
  /** Share (0–1) of all samples of the window. */
  share: z.number(),
});
export type ProcessShare = z.infer<typeof processShareSchema>;

/**
 * How idle the host's CPUs were: the idle task (pid 0) is not a frame of the figures (unless
 * `capture.include_idle` keeps it); its share is stated here instead.
 */
export const idleSummarySchema = z.object({
  /** Share (0–1) of the CPUs' time spent idle in the trigger window. */
  share: z.number(),
  /** The same in the baseline window; absent without a baseline. */
  shareBefore: z.number().optional(),
  /** Samples of the idle task that arrived in the trigger window. */
  samples: z.number(),
  /** True when the idle task's samples are in the figures (and the artifacts) after all. */
  included: z.boolean(),
});
export type IdleSummary = z.infer<typeof idleSummarySchema>;

export const incidentSummarySchema = z.object({
  /** The profile kind summarized (absent in summaries from before kinds: CPU); shares are of its weight. */
  kind: z.string().optional(),
  /** What the weights count (samples, bytes, nanoseconds…). */
  unit: z.string().optional(),
  /** All samples of the trigger window (every process; the idle task only when `idle.included`). */
  samples: z.number(),
  /** All samples of the baseline window; absent without a baseline. */
  baselineSamples: z.number().optional(),
  /** How idle the CPUs were; CPU summaries of incidents only (absent in summaries from before it). */
  idle: idleSummarySchema.optional(),
  /**
   * Set when the rule watched a process, a cgroup or a unit: then the function lists, `grew` and
   * `shrank` describe its samples alone, as shares of its own samples — what the rule watched.
   * Absent: they describe every process.
   */
  scope: z
    .object({
      /** The process the rule watched (absent for a cgroup or unit). */
      pid: z.number().optional(),
      comm: z.string().optional(),
      /** The cgroup (path below the cgroup v2 mount) the rule watched, and its systemd unit when it is one. */
      cgroup: z.string().optional(),
      unit: z.string().optional(),
      /** Its processes with samples in the trigger window. */
      processes: z.number().optional(),
      /** its weight in the window (samples for CPU) */
      samples: z.number(),
      baselineSamples: z.number().optional(),
    })
    .optional(),
  /** The 20 functions with the largest self share, and the 20 with the largest total share. */
  topFunctions: z.object({ bySelf: z.array(functionShareSchema), byTotal: z.array(functionShareSchema) }),
  /** The 10 processes with the most samples in the trigger window, busiest first (shares of `samples`). */
  topProcesses: z.array(processShareSchema),
  /** The 5 functions whose self share grew most, largest first; empty without a baseline. */
  grew: z.array(functionChangeSchema),
  /** The 5 functions whose self share shrank most, largest drop first; empty without a baseline. */
  shrank: z.array(functionChangeSchema),
});
export type IncidentSummary = z.infer<typeof incidentSummarySchema>;

/**
 * Reads summary.json back; undefined when the text is not what the capture writes (a damaged file
 * must cost the reader its summary, not the page or the notification).
 */
export function parseIncidentSummary(text: string): IncidentSummary | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = incidentSummarySchema.safeParse(parsed);
  return result.success ? result.data : undefined;
}
