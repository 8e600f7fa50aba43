import type { IncidentRecord } from './incident-record.js';
import type { MetricName } from './metrics.js';

/**
 * When the page-fault profile runs (`sampling.page_faults.mode`, docs/profiles.md): `auto` while a
 * rule watches resident memory, `on` always, `off` never.
 */
export const PAGE_FAULT_MODES = ['auto', 'on', 'off'] as const;
export type PageFaultMode = (typeof PAGE_FAULT_MODES)[number];

/**
 * Faults per sample by default: 256 faults of 4 KiB pages, one sample per MiB made resident. A
 * process growing 1 GiB/s then costs 1,024 samples a second, a few ms of CPU at the walk's ~5 µs
 * each (bench/RESULTS.md); one growing 10 MiB/min still leaves a sample every six seconds, enough
 * for the path of a leak in a window of minutes.
 */
export const DEFAULT_PAGE_FAULT_PERIOD = 256;

/** The metrics whose rules want to see which code made memory resident. */
const MEMORY_METRICS: ReadonlySet<MetricName> = new Set<MetricName>(['rss', 'rss_growth']);

/**
 * The profile that pictures an incident in its notifications and opens its page: for a rule on
 * resident memory, the outstanding allocations when what it watched was probed (the leak itself,
 * docs/profiles.md#allocations; another process's probes do not count), else the page-fault
 * flamegraph ("which code made this memory resident"); CPU otherwise (other rules, manual
 * captures). `profiles` is incident.json's list.
 */
export function pictureKindOf(trigger: IncidentRecord['trigger'], profiles?: IncidentRecord['profiles']): 'cpu' | 'page_faults' | 'inuse' {
  if (trigger.kind !== 'rule' || !MEMORY_METRICS.has(trigger.metric)) return 'cpu';
  const inuse = profiles?.find((p) => p.kind === 'inuse');
  return inuse && (inuse.scope_samples ?? inuse.samples) > 0 ? 'inuse' : 'page_faults';
}

/** Whether page faults are sampled, and why, in words for `tail2 status`. */
export interface PageFaultDecision {
  on: boolean;
  reason: string;
}

/** What `mode` and the rules in force say about the page-fault profile. */
export function decidePageFaults(mode: PageFaultMode, rules: ReadonlyArray<{ name: string; metric: MetricName }>): PageFaultDecision {
  if (mode === 'on') return { on: true, reason: 'sampling.page_faults.mode is on' };
  if (mode === 'off') return { on: false, reason: 'sampling.page_faults.mode is off' };
  const watching = rules.filter((rule) => MEMORY_METRICS.has(rule.metric)).map((rule) => rule.name);
  if (watching.length === 0) return { on: false, reason: 'no rule watches rss or rss_growth (sampling.page_faults.mode is auto)' };
  const named = watching.length <= 3 ? watching.join(', ') : `${watching.slice(0, 3).join(', ')} and ${watching.length - 3} more`;
  return { on: true, reason: `rule${watching.length === 1 ? '' : 's'} ${named} watch${watching.length === 1 ? 'es' : ''} resident memory (sampling.page_faults.mode is auto)` };
}
