import { chmodSync, closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { isNotFound, PRIVATE_FILE_MODE } from './durable-fs.js';
import { STORE_CODES, StoreError } from './store-error.js';

/**
 * The index's schema, as migrations in order: migration `i` takes the database from version `i` to
 * `i + 1`. Append new ones; never edit a shipped one, since an index on disk at version `n` replays
 * only what follows `n`.
 */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) =>
    db.exec(`
      CREATE TABLE incidents (
        id            TEXT PRIMARY KEY,
        fired_at      INTEGER NOT NULL,  -- wall-clock ms
        rule          TEXT NOT NULL,
        host          TEXT NOT NULL,
        pid           INTEGER,           -- the triggering process, when the rule watched processes
        comm          TEXT,
        cmdline       TEXT,
        status        TEXT NOT NULL,     -- 'captured', or 'missing' when the directory is gone
        trigger_kind  TEXT NOT NULL,     -- 'rule' | 'manual'
        trigger_value REAL,              -- the value that fired, the metric's canonical unit
        trigger_json  TEXT NOT NULL,     -- the whole trigger, so a list page needs no directory read
        bytes         INTEGER NOT NULL,  -- sum of the directory's file sizes
        notifications TEXT NOT NULL,     -- JSON array, as in incident.json
        created_at    INTEGER NOT NULL,  -- ms the row was written
        dirty         INTEGER NOT NULL DEFAULT 0  -- 1 while incident.json is being rewritten
      );
      -- List pages are newest first with a (fired_at, id) cursor; filtered pages walk these.
      CREATE INDEX incidents_by_time ON incidents (fired_at, id);
      CREATE INDEX incidents_by_rule ON incidents (rule, fired_at, id);
      CREATE INDEX incidents_by_pid ON incidents (pid, fired_at, id);
    `),
  // The notification outbox: an incident row counts its notifications still to deliver (pending
  // or retrying), written in the same insert as the row, so storing an incident and recording
  // what must be sent are one step. The dispatcher reads the rows with a count above zero.
  (db) =>
    db.exec(`
      ALTER TABLE incidents ADD COLUMN open_notifications INTEGER NOT NULL DEFAULT 0;
      UPDATE incidents SET open_notifications = (
        SELECT COUNT(*) FROM json_each(incidents.notifications)
        WHERE json_extract(json_each.value, '$.status') IN ('pending', 'retrying')
      );
      CREATE INDEX incidents_outbox ON incidents (fired_at, id) WHERE open_notifications > 0;
    `),
];

/** The version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) the index database and brings its schema to {@link SCHEMA_VERSION}.
 *
 * WAL lets the web UI read while a capture writes. `synchronous = NORMAL` in WAL mode can lose the
 * last commits on a power cut (never on a process crash) but never corrupts the file; that is
 * enough because the index is derived data: every row can be rebuilt from the incident
 * directories, and {@link IncidentStore.reconcile} does so at open.
 */
export function openIndexDatabase(path: string): Database.Database {
  makePrivate(path);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Another process (a `tail2 incidents` reading the file) may hold the lock for a moment.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * The index names every process an incident was about, so it is 0600 like the incident files,
 * whatever the umask. SQLite creates a new database 0644 minus the umask and gives its `-wal` and
 * `-shm` files the database file's mode, so creating the file 0600 first covers all three; files
 * left by an older version are tightened too.
 */
function makePrivate(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, PRIVATE_FILE_MODE);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  // One step per transaction, each reading the version under the write lock: a crash mid-upgrade
  // resumes at the step it was in, and two processes opening at once never apply a step twice.
  const step = db.transaction((): boolean => {
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const version = row?.version ?? 0;
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        STORE_CODES.schema,
        `the incident index was written by a newer tail2 (schema ${version}, this one knows up to ${SCHEMA_VERSION})`,
        'Run the newer tail2d, or delete index.sqlite under state_dir: it is rebuilt from the incident directories',
      );
    }
    if (version === SCHEMA_VERSION) return true;
    MIGRATIONS[version](db);
    db.prepare('UPDATE schema_version SET version = ?').run(version + 1);
    return false;
  });
  while (!step.immediate()) {
    // next step
  }
}
