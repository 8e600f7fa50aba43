import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INCIDENT_ID_PATTERN } from './incident-id.js';
import type { IncidentRecord } from './incident-record.js';

/** What GET /api/incidents lists per incident (DESIGN.md, "HTTP"). */
export interface IncidentSummary {
  id: string;
  rule: string;
  fired_at: string;
  host: string;
  process: IncidentRecord['process'] | null;
  trigger: IncidentRecord['trigger'];
  status: IncidentRecord['status'];
  notifications: IncidentRecord['notifications'];
}

/**
 * Incidents on disk, newest first, a page at a time. Ids sort by firing time, so the cursor is the
 * last id of the previous page. Reads the directory; the incident-store issue replaces this with
 * an SQLite index.
 */
export async function listIncidents(stateDir: string, options: { limit?: number; cursor?: string } = {}): Promise<{ incidents: IncidentSummary[]; next: string | null }> {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
  let names: string[];
  try {
    names = await readdir(join(stateDir, 'incidents'));
  } catch {
    return { incidents: [], next: null };
  }
  const ids = names.filter((name) => INCIDENT_ID_PATTERN.test(name)).sort().reverse();
  const start = options.cursor ? ids.findIndex((id) => id < options.cursor!) : 0;
  const page = start < 0 ? [] : ids.slice(start, start + limit);
  const incidents: IncidentSummary[] = [];
  for (const id of page) {
    const record = await readIncident(stateDir, id);
    if (!record) continue;
    incidents.push({
      id: record.id,
      rule: record.rule,
      fired_at: record.fired_at,
      host: record.host,
      process: record.process ?? null,
      trigger: record.trigger,
      status: record.status,
      notifications: record.notifications,
    });
  }
  const next = start >= 0 && start + limit < ids.length ? page[page.length - 1] : null;
  return { incidents, next };
}

/** One incident's metadata, or undefined when there is no such (valid) id. */
export async function readIncident(stateDir: string, id: string): Promise<IncidentRecord | undefined> {
  if (!INCIDENT_ID_PATTERN.test(id)) return undefined;
  try {
    return JSON.parse(await readFile(join(stateDir, 'incidents', id, 'incident.json'), 'utf8')) as IncidentRecord;
  } catch {
    return undefined;
  }
}
