import type { Request } from 'express';
import { describeTrigger } from '../model/trigger-text.js';
import type { IncidentListEntry, ListPage, ListQuery } from '../store/incident-list-entry.js';
import type { DaemonApi } from './daemon-api.js';
import { notificationViews, type NotificationView } from './notification-view.js';
import type { PageModel } from './page-renderer.js';
import { timeView, type TimeView } from './time-text.js';

/** One row of `table#incidents`. */
export interface IncidentRow {
  id: string;
  href: string;
  thumb: string;
  fired: TimeView | undefined;
  rule: string;
  host: string;
  process: { pid: number; comm: string; cmdline: string } | null;
  trigger: string;
  notifications: NotificationView[];
  missing: boolean;
}

export interface ListPageModel extends PageModel {
  /** The filter form's values, as typed. */
  filters: { rule: string; process: string; from: string; to: string };
  /** Kept across pages when given in the URL. */
  limit: string;
  ruleNames: string[];
  incidents: IncidentRow[];
  olderHref: string | null;
  /** Shown on every page after the first. */
  firstHref: string | null;
  /** Set when nothing is listed: no incident at all yet, or none matching the filters. */
  empty: 'none' | 'filtered' | null;
  /** A filter or cursor the page could not use, in words; the status is then 400. */
  error: string | null;
  /** For the first-run empty state: the rules file and how many rules it holds, when known. */
  rulesFile: string | null;
  ruleCount: number;
}

const PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 500;
/** What `<input type=datetime-local>` sends: no zone, so the form labels it UTC. */
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?$/;

/** The incidents list (`/`): filters from the query, a page of the store, newest first. */
export function listPage(api: DaemonApi, req: Request, nowMs: number): { model: ListPageModel; status: number } {
  const text = (name: string): string => (typeof req.query[name] === 'string' ? (req.query[name] as string).trim() : '');
  const filters = { rule: text('rule'), process: text('process'), from: text('from'), to: text('to') };
  const cursor = text('cursor');
  const limitText = text('limit');
  const limitNumber = Number(limitText);
  const limit = /^\d+$/.test(limitText) && limitNumber >= 1 ? Math.min(limitNumber, MAX_PAGE_SIZE) : PAGE_SIZE;
  // Carried into the pages' links only when the URL chose it.
  const limitParam = limitText ? String(limit) : '';

  const model: ListPageModel = {
    title: 'Incidents',
    filters,
    limit: limitParam,
    ruleNames: ruleNames(api),
    incidents: [],
    olderHref: null,
    firstHref: cursor ? href({ ...filters, limit: limitParam }) : null,
    empty: null,
    error: null,
    rulesFile: null,
    ruleCount: 0,
  };
  const from = parseTime(filters.from);
  const to = parseTime(filters.to);
  if (Number.isNaN(from) || Number.isNaN(to)) {
    model.error = 'From and to must be times such as 2026-11-25T03:00 (UTC).';
    return { model, status: 400 };
  }
  if (from !== undefined) filters.from = formInputTime(from);
  if (to !== undefined) filters.to = formInputTime(to);

  const query: ListQuery = { limit, cursor: cursor || undefined, rule: filters.rule || undefined, process: filters.process || undefined, from, to };
  let page: ListPage;
  try {
    page = api.store.list(query);
  } catch (error) {
    if ((error as { code?: string }).code !== 'TAIL2_STORE_CURSOR') throw error;
    model.error = 'This page link is not one the list handed out (was it cut short?). Start again from the first page.';
    model.firstHref = href({ ...filters, limit: model.limit });
    return { model, status: 400 };
  }
  model.incidents = page.incidents.map((entry) => incidentRow(entry, nowMs));
  if (page.next) model.olderHref = href({ ...filters, limit: model.limit, cursor: page.next });
  const filtered = Object.values(filters).some((value) => value !== '');
  if (model.incidents.length === 0) model.empty = filtered || cursor ? 'filtered' : 'none';
  if (model.empty === 'none') {
    model.rulesFile = api.status().rules.file;
    model.ruleCount = api.rules().length;
  }
  return { model, status: 200 };
}

function incidentRow(entry: IncidentListEntry, nowMs: number): IncidentRow {
  const id = encodeURIComponent(entry.id);
  // The index keeps the process but not the instance's kind: a rule without a process is shown
  // as host-wide, which changes only how a cpu value is worded.
  const instance = entry.process ? { kind: 'process' as const, pid: entry.process.pid, startTime: 0, comm: entry.process.comm, cmdline: entry.process.cmdline } : { kind: 'system' as const };
  return {
    id: entry.id,
    href: `/incidents/${id}`,
    thumb: `/api/incidents/${id}/flamegraph.png`,
    fired: timeView(entry.fired_at, nowMs),
    rule: entry.rule,
    host: entry.host,
    process: entry.process,
    trigger: describeTrigger({ trigger: entry.trigger, instance }),
    notifications: notificationViews(entry.notifications ?? [], nowMs),
    missing: entry.status === 'missing',
  };
}

/** The rules the engine knows, and `manual` for captures asked for by hand. */
function ruleNames(api: DaemonApi): string[] {
  const names = new Set<string>();
  for (const state of api.rules()) if (typeof state?.rule?.name === 'string') names.add(state.rule.name);
  names.add('manual');
  return [...names];
}

/** undefined for empty, NaN for unreadable; datetime-local values (no zone) are UTC. */
function parseTime(value: string): number | undefined {
  if (value === '') return undefined;
  return Date.parse(LOCAL_TIME.test(value) ? `${value}Z` : value);
}

/** ms as `<input type=datetime-local>` shows it (UTC, as the form's labels say). */
function formInputTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith(':00.000Z') ? iso.slice(0, 16) : iso.slice(0, 19);
}

/** `/?rule=…&cursor=…` with the non-empty parameters. */
function href(params: Record<string, string>): string {
  const search = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== ''));
  const query = search.toString();
  return query ? `/?${query}` : '/';
}
