import type { IncidentRecord } from '../capture/incident-record.js';

/**
 * Reads incident.json text found on disk, or says what is wrong with it. Only what the index needs
 * is checked (a directory may come from an older tail2, or have been edited by hand): a record
 * passing this can be indexed and listed; one failing it is moved aside as corrupt.
 */
export function parseIncidentRecord(text: string, expectedId: string): { record: IncidentRecord } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `incident.json is not JSON (${(error as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'incident.json is not an object' };
  const record = value as Partial<IncidentRecord>;
  if (record.id !== expectedId) return { problem: `incident.json has id ${JSON.stringify(record.id)}, not its directory's name` };
  if (typeof record.rule !== 'string') return { problem: 'incident.json has no rule' };
  if (typeof record.fired_at !== 'string' || Number.isNaN(Date.parse(record.fired_at))) return { problem: 'incident.json has no valid fired_at' };
  if (typeof record.host !== 'string') return { problem: 'incident.json has no host' };
  const trigger = record.trigger as { kind?: unknown } | undefined;
  if (typeof trigger !== 'object' || trigger === null || (trigger.kind !== 'rule' && trigger.kind !== 'manual')) return { problem: 'incident.json has no valid trigger' };
  if (record.process !== undefined && (typeof record.process !== 'object' || record.process === null || typeof record.process.pid !== 'number')) {
    return { problem: 'incident.json has an invalid process' };
  }
  if (record.notifications !== undefined && !Array.isArray(record.notifications)) return { problem: 'incident.json has invalid notifications' };
  return { record: { ...record, notifications: record.notifications ?? [] } as IncidentRecord };
}
