import type Database from 'better-sqlite3';
import type { NotificationOutcome } from '../model/notification.js';
import type { IncidentRecord } from '../model/incident-record.js';
import type { CursorKey } from './list-cursor.js';
import type { IncidentListEntry, IncidentStatus } from './incident-list-entry.js';
import { openIndexDatabase } from './index-schema.js';

/** A row of the `incidents` table. */
export interface IndexRow {
  id: string;
  fired_at: number;
  rule: string;
  host: string;
  pid: number | null;
  comm: string | null;
  cmdline: string | null;
  status: IncidentStatus;
  trigger_kind: string;
  trigger_value: number | null;
  trigger_json: string;
  bytes: number;
  notifications: string;
  /** Notifications still to deliver (pending or retrying): the outbox. */
  open_notifications: number;
  created_at: number;
  dirty: number;
}

/** Notifications a dispatcher still has to hand to the queue or see through. */
export function openNotificationCount(notifications: readonly NotificationOutcome[]): number {
  return notifications.filter((n) => n.status === 'pending' || n.status === 'retrying').length;
}

/** The filters of one page query, already resolved (cursor decoded, process split into pid/comm). */
export interface PageQuery {
  limit: number;
  after?: CursorKey;
  rule?: string;
  pid?: number;
  /** Case-insensitive comm substring. */
  comm?: string;
  from?: number;
  to?: number;
  status?: IncidentStatus;
}

/** The index row for an incident. */
export function rowFromRecord(record: IncidentRecord, bytes: number, createdAtMs: number): IndexRow {
  return {
    id: record.id,
    fired_at: Date.parse(record.fired_at),
    rule: record.rule,
    host: record.host,
    pid: record.process?.pid ?? null,
    comm: record.process?.comm ?? null,
    cmdline: record.process?.cmdline ?? null,
    status: record.status,
    trigger_kind: record.trigger.kind,
    trigger_value: record.trigger.kind === 'rule' ? record.trigger.value : null,
    trigger_json: JSON.stringify(record.trigger),
    bytes,
    notifications: JSON.stringify(record.notifications ?? []),
    open_notifications: openNotificationCount(record.notifications ?? []),
    created_at: createdAtMs,
    dirty: 0,
  };
}

/** What a list page shows of a row. */
export function entryFromRow(row: IndexRow): IncidentListEntry {
  return {
    id: row.id,
    rule: row.rule,
    fired_at: new Date(row.fired_at).toISOString(),
    host: row.host,
    process: row.pid === null ? null : { pid: row.pid, comm: row.comm ?? '', cmdline: row.cmdline ?? '' },
    trigger: JSON.parse(row.trigger_json) as IncidentListEntry['trigger'],
    status: row.status,
    notifications: JSON.parse(row.notifications) as IncidentListEntry['notifications'],
    bytes: row.bytes,
  };
}

const COLUMNS = 'id, fired_at, rule, host, pid, comm, cmdline, status, trigger_kind, trigger_value, trigger_json, bytes, notifications, open_notifications, created_at, dirty';
const VALUES = COLUMNS.split(', ')
  .map((column) => `@${column}`)
  .join(', ');

/**
 * The SQLite index of the incident directories: one row per incident, so the list page, filters
 * and retention are index queries instead of directory scans. It holds nothing the directories do
 * not; losing it loses nothing (reconcile rebuilds it).
 */
export class IncidentIndex {
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  static open(path: string): IncidentIndex {
    return new IncidentIndex(openIndexDatabase(path));
  }

  /** Adds a new incident's row; fails (SQLITE_CONSTRAINT) when the id is already there. */
  insert(row: IndexRow): void {
    this.statement(`INSERT INTO incidents (${COLUMNS}) VALUES (${VALUES})`).run(row);
  }

  /** Adds many rows in one transaction (re-indexing a directory scan). */
  upsertMany(rows: IndexRow[]): void {
    const statement = this.statement(`INSERT OR REPLACE INTO incidents (${COLUMNS}) VALUES (${VALUES})`);
    this.db.transaction(() => {
      for (const row of rows) statement.run(row);
    })();
  }

  get(id: string): IndexRow | undefined {
    return this.statement('SELECT * FROM incidents WHERE id = ?').get(id) as IndexRow | undefined;
  }

  /** One page, newest first, strictly below `after`. */
  page(query: PageQuery): IndexRow[] {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: query.limit };
    if (query.rule !== undefined) {
      where.push('rule = @rule');
      params.rule = query.rule;
    }
    if (query.comm !== undefined) {
      // LIKE ignores ASCII case; the user's text is escaped so `%` and `_` match themselves.
      params.comm = `%${query.comm.replace(/[\\%_]/g, '\\$&')}%`;
      if (query.pid !== undefined) params.pid = query.pid;
      where.push(query.pid !== undefined ? "(pid = @pid OR comm LIKE @comm ESCAPE '\\')" : "comm LIKE @comm ESCAPE '\\'");
    } else if (query.pid !== undefined) {
      where.push('pid = @pid');
      params.pid = query.pid;
    }
    if (query.from !== undefined) {
      where.push('fired_at >= @from');
      params.from = query.from;
    }
    if (query.to !== undefined) {
      where.push('fired_at <= @to');
      params.to = query.to;
    }
    if (query.status !== undefined) {
      where.push('status = @status');
      params.status = query.status;
    }
    if (query.after) {
      // Row-value comparison: SQLite seeks the (fired_at, id) index straight to the cursor.
      where.push('(fired_at, id) < (@afterAt, @afterId)');
      params.afterAt = query.after.firedAtMs;
      params.afterId = query.after.id;
    }
    const sql = `SELECT * FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY fired_at DESC, id DESC LIMIT @limit`;
    return this.statement(sql).all(params) as IndexRow[];
  }

  /** Every row's id, status and dirty flag: what reconcile compares with the directories. */
  states(): Map<string, { status: IncidentStatus; dirty: boolean }> {
    const rows = this.statement('SELECT id, status, dirty FROM incidents').all() as Array<{ id: string; status: IncidentStatus; dirty: number }>;
    return new Map(rows.map((row) => [row.id, { status: row.status, dirty: row.dirty !== 0 }]));
  }

  /** Every row, oldest first, with what retention weighs. */
  retentionRows(): Array<{ id: string; fired_at: number; bytes: number; status: IncidentStatus }> {
    return this.statement('SELECT id, fired_at, bytes, status FROM incidents ORDER BY fired_at, id').all() as Array<{ id: string; fired_at: number; bytes: number; status: IncidentStatus }>;
  }

  /** Sets the status of these rows; returns how many rows there were. */
  setStatus(ids: string[], status: IncidentStatus): number {
    const statement = this.statement('UPDATE incidents SET status = ? WHERE id = ?');
    return this.db.transaction(() => ids.reduce((changed, id) => changed + statement.run(status, id).changes, 0))();
  }

  /** Adds the size of files written into an incident after its row (artifacts rendered later). */
  addBytes(id: string, bytes: number): void {
    this.statement('UPDATE incidents SET bytes = bytes + ? WHERE id = ?').run(bytes, id);
  }

  /** Marks a row as having an incident.json rewrite in progress, or clears the mark. */
  setDirty(id: string, dirty: boolean): void {
    this.statement('UPDATE incidents SET dirty = ? WHERE id = ?').run(dirty ? 1 : 0, id);
  }

  /** Stores the notifications just written to incident.json and clears the dirty mark. */
  setNotifications(id: string, notifications: readonly NotificationOutcome[]): void {
    this.statement('UPDATE incidents SET notifications = ?, open_notifications = ?, dirty = 0 WHERE id = ?').run(
      JSON.stringify(notifications),
      openNotificationCount(notifications),
      id,
    );
  }

  /** The outbox: incidents on disk with notifications still to deliver, oldest first. */
  outbox(): Array<{ id: string; notifications: NotificationOutcome[] }> {
    const rows = this.statement("SELECT id, notifications FROM incidents WHERE open_notifications > 0 AND status <> 'missing' ORDER BY fired_at, id").all() as Array<{
      id: string;
      notifications: string;
    }>;
    return rows.map((row) => ({ id: row.id, notifications: JSON.parse(row.notifications) as NotificationOutcome[] }));
  }

  remove(id: string): void {
    this.statement('DELETE FROM incidents WHERE id = ?').run(id);
  }

  /** Incidents present on disk, those marked missing, and the bytes of the present ones. */
  totals(): { present: number; missing: number; bytes: number } {
    const row = this.statement(
      "SELECT COALESCE(SUM(status <> 'missing'), 0) AS present, COALESCE(SUM(status = 'missing'), 0) AS missing, COALESCE(SUM(CASE WHEN status <> 'missing' THEN bytes END), 0) AS bytes FROM incidents",
    ).get() as { present: number; missing: number; bytes: number };
    return row;
  }

  close(): void {
    this.db.close();
  }

  /** Prepared once per SQL text: list pages come in a handful of filter shapes. */
  private statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
