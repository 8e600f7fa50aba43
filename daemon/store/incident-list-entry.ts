import type { IncidentRecord } from '../model/incident-record.js';

/** Index status: `missing` when the row outlived its directory (someone removed it by hand). */
export type IncidentStatus = IncidentRecord['status'] | 'missing';

/**
 * One incident as a list page shows it, the fields of `GET /api/incidents` (docs/api.md),
 * all served from the index without reading the incident's directory.
 */
export interface IncidentListEntry {
  id: string;
  rule: string;
  /** ISO time the rule fired. */
  fired_at: string;
  host: string;
  process: { pid: number; comm: string; cmdline: string } | null;
  trigger: IncidentRecord['trigger'];
  status: IncidentStatus;
  notifications: IncidentRecord['notifications'];
  /** Bytes of the incident's files on disk. */
  bytes: number;
}

/** What {@link IncidentStore.list} filters and pages by; every filter is optional. */
export interface ListQuery {
  /** Page size, 1–500. @defaultValue 50 */
  limit?: number;
  /** The `next` of the previous page. */
  cursor?: string | null;
  /** Exact rule name. */
  rule?: string;
  /**
   * The triggering process: a number is a pid; text matches the comm as a case-insensitive
   * substring, and all-digit text also matches that pid.
   */
  process?: string | number;
  /** Fired at or after this wall-clock ms. */
  from?: number;
  /** Fired at or before this wall-clock ms. */
  to?: number;
  status?: IncidentStatus;
}

/** A page of incidents, newest first; `next` is null on the last page. */
export interface ListPage {
  incidents: IncidentListEntry[];
  next: string | null;
}
