import type { IncidentRecord } from '../daemon/model/incident-record.js';
import type { IncidentSummary } from '../daemon/model/incident-summary.js';
import { formatWeight, PROFILE_KIND_NAMES, PROFILE_KINDS, type ProfileKindName } from '../daemon/model/profile-kind.js';
import { describeTrigger } from '../daemon/model/trigger-text.js';
import type { IncidentMessage } from './delivery.js';

/** Functions a message lists: enough to name the culprit, few enough to read on a phone. */
const MESSAGE_FUNCTIONS = 5;

/**
 * What every notification of an incident says, from its record and summary.json (absent when the
 * incident had no samples). `publicUrl` is `web.public_url`; the link is the incident page.
 */
export function incidentMessage(record: IncidentRecord, summary: IncidentSummary | undefined, publicUrl: string): IncidentMessage {
  const title = record.trigger.kind === 'manual' ? `manual capture on ${record.host}` : `${record.rule} fired on ${record.host}`;
  const instance = record.instance;
  const message: IncidentMessage = {
    id: record.id,
    title,
    rule: record.rule,
    host: record.host,
    firedAt: record.fired_at,
    process: record.process,
    trigger: describeTrigger(record),
    topFunctions: (summary?.topFunctions.bySelf ?? []).slice(0, MESSAGE_FUNCTIONS).map((f) => ({
      name: f.name,
      module: f.module,
      selfPercent: f.selfShare * 100,
      changePoints: f.change,
    })),
    samples: summary ? (summary.scope?.samples ?? summary.samples) : 0,
    url: incidentUrl(publicUrl, record.id),
  };
  // A summary of another kind (page faults for a memory rule): the shares are of its weight.
  const named = summary?.kind;
  const kind = named !== undefined && named !== 'cpu' && (PROFILE_KIND_NAMES as readonly string[]).includes(named) ? PROFILE_KINDS[named as ProfileKindName] : undefined;
  if (summary && kind) {
    message.profile = { title: kind.title, amount: summary.scope ? formatWeight(summary.scope.samples, kind.unit) : formatWeight(summary.samples, 'samples') };
  }
  if (instance.kind === 'cgroup') message.cgroup = instance.unit === undefined ? { path: instance.path } : { path: instance.path, unit: instance.unit };
  const idle = summary?.idle;
  if (idle) message.idle = `CPUs ${percent(idle.share)}% idle${idle.shareBefore === undefined ? '' : ` (${percent(idle.shareBefore)}% before)`}`;
  return message;
}

function percent(share: number): number {
  return Math.round(share * 100);
}

/** The incident page under `web.public_url`, whether or not that ends in a slash. */
export function incidentUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/incidents/${encodeURIComponent(id)}`;
}
