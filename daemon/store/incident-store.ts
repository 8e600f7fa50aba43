import { chmod, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NotificationOutcome } from '../model/notification.js';
import { INCIDENT_ID_PATTERN } from '../capture/incident-id.js';
import type { IncidentProblem, IncidentRecord } from '../model/incident-record.js';
import type { StoreLastError, StoreStatus } from '../model/store-status.js';
import { fsyncDirectory, isNotFound, replaceFileAtomically, writeFileDurably } from './durable-fs.js';
import { INCIDENT_FILE_NAME_PATTERN, isIncidentArtifact, RECORD_FILE } from './incident-artifacts.js';
import { IncidentHolds } from './incident-holds.js';
import { entryFromRow, IncidentIndex, rowFromRecord, type PageQuery } from './incident-index.js';
import { parseIncidentRecord } from '../model/incident-record.js';
import type { ListPage, ListQuery } from './incident-list-entry.js';
import { decodeCursor, encodeCursor } from './list-cursor.js';
import { DELETING_PREFIX, readIncidentDirectory, reconcileIncidents, TEMPORARY_PREFIX, type ReconcileCounts } from './reconcile.js';
import { planRetention, type RetentionReason } from './retention-plan.js';
import { retentionLimits, type RetentionLimits } from './store-config.js';
import { STORE_CODES, StoreError, storageErrorCode, storageHint } from './store-error.js';
import type { StoreProblemHandler } from './store-problem.js';

/** How {@link IncidentStore.open} sets the store up; every field is optional. */
export interface IncidentStoreOptions extends Partial<RetentionLimits> {
  /** Wall-clock ms: ages for retention, row creation times, error times. @defaultValue Date.now */
  clock?: () => number;
  /** Told about damage the store found and worked around (corrupt incidents, a rebuilt index). */
  onProblem?: StoreProblemHandler;
}


/** What one {@link IncidentStore.enforceRetention} pass did. */
export interface RetentionResult {
  deleted: Array<{ id: string; reason: RetentionReason }>;
  /** Incidents past a limit but kept because they were held. */
  held: string[];
}

const MAX_PAGE = 500;
const DEFAULT_PAGE = 50;

/**
 * The incidents on disk, `<stateDir>/incidents/<id>/`, with an SQLite index
 * (`<stateDir>/index.sqlite`) that serves lists, filters and retention without reading
 * directories.
 *
 * The directories are the truth and are written so that a crash at any moment leaves each one
 * whole or absent (built under `.tmp-<id>`, fsynced, renamed into place). The index follows them
 * and is repaired from them at open ({@link reconcile}). Incidents are deleted only by retention,
 * never while held ({@link hold}).
 */
export class IncidentStore {
  /** What the reconcile at open found. */
  reconciled: ReconcileCounts = { removedTemporary: 0, finishedDeletes: 0, reindexed: 0, refreshed: 0, movedCorrupt: 0, markedMissing: 0 };

  private readonly holds = new IncidentHolds();
  /** Ids whose directory this process is writing or deleting: reconcile leaves their debris alone. */
  private readonly busy = new Set<string>();
  /** incident.json updates in progress, one chain per id, so two notifiers never interleave theirs. */
  private readonly updates = new Map<string, Promise<unknown>>();
  private retention: Promise<RetentionResult> | undefined;
  /** The last reconcile or retention pass, which the next one waits for. */
  private maintenance: Promise<unknown> = Promise.resolve();
  private lastError: StoreLastError | null = null;
  private limits: RetentionLimits;
  private readonly clock: () => number;
  private readonly onProblem: StoreProblemHandler | undefined;
  private readonly incidentsDir: string;

  private constructor(
    private readonly stateDir: string,
    private readonly dbPath: string,
    private readonly index: IncidentIndex,
    options: IncidentStoreOptions,
  ) {
    this.incidentsDir = join(stateDir, 'incidents');
    this.limits = retentionLimits(options);
    this.clock = options.clock ?? Date.now;
    this.onProblem = options.onProblem;
  }

  /**
   * Opens the store under `stateDir` (creating what is missing), brings the index schema up to date
   * and reconciles the index with the directories; see {@link reconciled} for what that repaired.
   * An index file SQLite cannot read is moved aside and rebuilt: it holds nothing the directories
   * do not.
   */
  static async open(stateDir: string, options: IncidentStoreOptions = {}): Promise<IncidentStore> {
    const limits = retentionLimits(options);
    // 0700 (so is the state dir when this creates it): only tail2d reads incidents off the disk.
    await mkdir(join(stateDir, 'incidents'), { recursive: true, mode: 0o700 });
    await chmod(join(stateDir, 'incidents'), 0o700);
    const dbPath = join(stateDir, 'index.sqlite');
    const index = await openOrRebuildIndex(dbPath, options);
    const store = new IncidentStore(stateDir, dbPath, index, { ...options, ...limits });
    try {
      store.reconciled = await store.reconcile();
    } catch (error) {
      index.close();
      throw error;
    }
    return store;
  }

  /**
   * Stores an incident: `incident.json` (written from `record`) and `files`, all or nothing.
   * Resolves to the incident's directory once it is durable and indexed.
   *
   * Rejects with a {@link StoreError} whose `code` is the file-system code when the disk refuses
   * (ENOSPC, EDQUOT, EIO, EROFS…); the half-built directory is removed first. If the directory made
   * it into place but the index row did not (SQLite hit the full disk), the directory stays: it is
   * whole, and writing the same id again, as the capture retry does, indexes it.
   *
   * @param files artifacts, `[name, content]`; names are plain file names, not `incident.json`
   */
  async write(record: IncidentRecord, files: Array<[name: string, content: string | Uint8Array]>): Promise<string> {
    const id = record.id;
    checkWritable(record, files);
    if (this.busy.has(id)) throw new StoreError(STORE_CODES.busy, `incident ${id} is being written or deleted already`);
    const final = join(this.incidentsDir, id);
    const temporary = join(this.incidentsDir, `${TEMPORARY_PREFIX}${id}`);
    this.busy.add(id);
    try {
      let existing: boolean;
      try {
        existing = await exists(final);
      } catch (error) {
        throw this.failure(`cannot write incident ${id}`, error);
      }
      if (existing) return await this.indexExisting(id, final);
      let bytes = 0;
      try {
        // A failed attempt of this process may have left one; never mix its files with ours.
        await rm(temporary, { recursive: true, force: true });
        await mkdir(temporary, { mode: 0o700 });
        for (const [name, content] of [[RECORD_FILE, JSON.stringify(record, null, 2) + '\n'] as const, ...files]) {
          await writeFileDurably(join(temporary, name), content);
          bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
        }
        await fsyncDirectory(temporary);
        await rename(temporary, final);
      } catch (error) {
        await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
        throw this.failure(`cannot write incident ${id}`, error);
      }
      try {
        await fsyncDirectory(this.incidentsDir);
        this.index.insert(rowFromRecord(record, bytes, this.clock()));
      } catch (error) {
        throw this.failure(`incident ${id} is on disk but could not be indexed`, error);
      }
      return final;
    } finally {
      this.busy.delete(id);
    }
  }

  /**
   * A page of incidents, newest first (by firing time, then id), from the index alone. Pages are
   * keyset-paginated: `next` is the position after the last row, so pages never repeat or skip
   * rows while incidents are added or deleted between requests.
   *
   * Throws a {@link StoreError} with code `TAIL2_STORE_CURSOR` for a cursor it did not hand out.
   */
  list(query: ListQuery = {}): ListPage {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_PAGE), 1), MAX_PAGE);
    const page: PageQuery = { limit: limit + 1, rule: query.rule, from: query.from, to: query.to, status: query.status };
    if (query.cursor) page.after = this.cursorKey(query.cursor);
    if (typeof query.process === 'number') page.pid = query.process;
    else if (typeof query.process === 'string' && query.process !== '') {
      page.comm = query.process;
      if (/^\d{1,10}$/.test(query.process)) page.pid = Number(query.process);
    }
    const rows = this.index.page(page);
    const more = rows.length > limit;
    const shown = more ? rows.slice(0, limit) : rows;
    const last = shown[shown.length - 1];
    return { incidents: shown.map(entryFromRow), next: more && last ? encodeCursor({ firedAtMs: last.fired_at, id: last.id }) : null };
  }

  /**
   * An incident's full record (its incident.json), or undefined when there is no such incident:
   * the id is not one the store makes, or its incident.json is not there (ENOENT, ENOTDIR).
   *
   * Every other failure throws a {@link StoreError}: the disk's code when the file cannot be read
   * (EIO, EACCES, EMFILE…), `TAIL2_STORE_CORRUPT` when it is not a valid record. Callers must not
   * take those for "deleted": the notifier retries later, the web answers 500.
   */
  async get(id: string): Promise<IncidentRecord | undefined> {
    if (!INCIDENT_ID_PATTERN.test(id)) return undefined;
    const path = join(this.incidentsDir, id, RECORD_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (isAbsent(error)) return undefined;
      throw this.readFailure(`cannot read incident ${id}`, error);
    }
    const parsed = parseIncidentRecord(text, id);
    if ('problem' in parsed) throw new StoreError(STORE_CODES.corrupt, `incident ${id} cannot be read: ${parsed.problem}`, 'The next reconcile (at tail2d start) moves it aside as .corrupt-<id>');
    return parsed.record;
  }

  /**
   * The path of an incident's artifact, for streaming it; undefined unless `id` is a valid incident
   * id and `name` one of {@link INCIDENT_ARTIFACTS}, so a request can never name another file. The
   * file may still be absent (not every incident has a PNG): the reader handles ENOENT.
   */
  artifactPath(id: string, name: string): string | undefined {
    if (!INCIDENT_ID_PATTERN.test(id) || !isIncidentArtifact(name)) return undefined;
    return join(this.incidentsDir, id, name);
  }

  /**
   * Records notification outcomes: rewrites incident.json atomically (the page reads it), then the
   * index row (the list reads it). Resolves false when there is no such incident. The row is
   * marked dirty while the file changes, so a crash in between is repaired by the next reconcile.
   *
   * `change` is the new list, or a function from the list on disk to the new one: updates of one
   * incident run one after another, so two targets recording their outcomes at once both land.
   */
  updateNotifications(id: string, change: NotificationOutcome[] | ((current: NotificationOutcome[]) => NotificationOutcome[])): Promise<boolean> {
    if (!INCIDENT_ID_PATTERN.test(id)) return Promise.resolve(false);
    const next = typeof change === 'function' ? change : () => change;
    return this.afterUpdates(id, () => this.rewriteNotifications(id, next));
  }

  /**
   * Adds files to a stored incident: the artifacts rendered after it was stored (and notified), so
   * the message does not wait for them. Each file is written under a temporary name, fsynced and
   * renamed into place, then the directory is fsynced: once this resolves they are durable, and a
   * crash before leaves each one whole or absent (never incident.json, which is not touched unless
   * `problems` is given). `problems` (parts that could not be made) are appended to the record's.
   * Runs after, and before, the incident's other updates. Resolves false when there is no such
   * incident (retention took it); rejects with a {@link StoreError} when the disk refuses.
   */
  addArtifacts(id: string, files: Array<[name: string, content: string | Uint8Array]>, problems: IncidentProblem[] = []): Promise<boolean> {
    if (!INCIDENT_ID_PATTERN.test(id)) return Promise.resolve(false);
    for (const [name] of files) {
      if (!INCIDENT_FILE_NAME_PATTERN.test(name) || name === RECORD_FILE) return Promise.reject(new StoreError(STORE_CODES.invalid, `incident file name ${JSON.stringify(name)} is not one an artifact may have`));
    }
    return this.afterUpdates(id, () => this.writeArtifacts(id, files, problems));
  }

  /** Runs `task` after the incident's updates in progress: two never interleave their writes. */
  private afterUpdates(id: string, task: () => Promise<boolean>): Promise<boolean> {
    const previous = this.updates.get(id) ?? Promise.resolve();
    const update = previous.catch(() => undefined).then(task);
    this.updates.set(id, update);
    void update.finally(() => {
      if (this.updates.get(id) === update) this.updates.delete(id);
    }).catch(() => undefined);
    return update;
  }

  private async writeArtifacts(id: string, files: Array<[string, string | Uint8Array]>, problems: IncidentProblem[]): Promise<boolean> {
    const release = this.holds.hold(id);
    try {
      const directory = join(this.incidentsDir, id);
      if (!(await exists(join(directory, RECORD_FILE)))) return false;
      let bytes = 0;
      try {
        for (const [name, content] of files) {
          const temporary = join(directory, `.${name}.tmp`);
          await writeFileDurably(temporary, content);
          await rename(temporary, join(directory, name));
          bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
        }
        await fsyncDirectory(directory);
      } catch (error) {
        throw this.failure(`cannot add files to incident ${id}`, error);
      }
      this.index.addBytes(id, bytes);
      if (problems.length > 0) await this.rewriteRecord(id, (record) => ({ ...record, problems: [...(record.problems ?? []), ...problems] }));
      return true;
    } finally {
      release();
    }
  }

  /**
   * Keeps retention away from `id` until the returned function is called: hold an incident while
   * sending its notification or serving its page. Holds count; releasing twice does nothing.
   */
  hold(id: string): () => void {
    return this.holds.hold(id);
  }

  /**
   * Repairs the index against the directories (done at open; safe to run again): removes
   * half-written `.tmp-*` and half-deleted `.deleting-*` directories, indexes directories the index
   * lacks, moves directories with a missing or corrupt incident.json to `.corrupt-<id>`, and marks
   * rows whose directory is gone as `missing`.
   */
  reconcile(): Promise<ReconcileCounts> {
    return this.maintain(() =>
      reconcileIncidents({
        incidentsDir: this.incidentsDir,
        index: this.index,
        isBusy: (id) => this.busy.has(id) || this.updates.has(id),
        nowMs: this.clock(),
        onProblem: this.onProblem,
      }),
    );
  }

  /**
   * Deletes the oldest incidents until none is older than `maxAgeMs` and at most `maxIncidents`
   * and `maxDiskBytes` remain, skipping held ones. Call it after each write and on a timer (age
   * limits expire with time alone). A pass already running is joined, not doubled.
   */
  enforceRetention(): Promise<RetentionResult> {
    this.retention ??= this.maintain(() => this.runRetention()).finally(() => (this.retention = undefined));
    return this.retention;
  }

  /** Changes the retention limits (config reload); the next {@link enforceRetention} applies them. */
  setLimits(limits: Partial<RetentionLimits>): void {
    this.limits = retentionLimits({ ...this.limits, ...limits });
  }

  /** What GET /api/status shows under `store`. */
  stats(): StoreStatus {
    const totals = this.index.totals();
    return { incidents: totals.present, missing: totals.missing, bytes: totals.bytes, last_error: this.lastError, db_path: this.dbPath, incidents_dir: this.incidentsDir };
  }

  /** Closes the index. Await writes and updates in flight first. */
  close(): void {
    this.index.close();
  }

  /**
   * Runs reconcile and retention passes one after the other: a reconcile re-reading a directory
   * that retention deletes meanwhile would bring its row back.
   */
  private maintain<T>(pass: () => Promise<T>): Promise<T> {
    const run = this.maintenance.catch(() => undefined).then(pass);
    this.maintenance = run;
    return run;
  }

  private async runRetention(): Promise<RetentionResult> {
    const rows = this.index.retentionRows().map((row) => ({ id: row.id, firedAtMs: row.fired_at, bytes: row.bytes, present: row.status !== 'missing' }));
    const plan = planRetention(rows, this.limits, this.clock(), (id) => this.holds.isHeld(id) || this.busy.has(id));
    const result: RetentionResult = { deleted: [], held: plan.held };
    for (const { id, reason } of plan.remove) {
      // Deletes await the disk: a hold taken since the plan still wins.
      if (this.holds.isHeld(id) || this.busy.has(id)) {
        result.held.push(id);
        continue;
      }
      if (await this.deleteIncident(id)) result.deleted.push({ id, reason });
    }
    return result;
  }

  /**
   * Rename to `.deleting-<id>`, empty it, drop the row, remove the empty directory. A crash at any
   * step leaves a `.deleting-<id>` that reconcile finishes, never a directory that looks whole but
   * is half gone. The files go before the row because on a full disk SQLite needs room to commit
   * the delete: retention is what makes that room.
   */
  private async deleteIncident(id: string): Promise<boolean> {
    const doomed = join(this.incidentsDir, `${DELETING_PREFIX}${id}`);
    this.busy.add(id);
    try {
      try {
        await rename(join(this.incidentsDir, id), doomed);
      } catch (error) {
        // Gone already (a missing row), or a pass cut short left it renamed: carry on either way.
        if (!isNotFound(error)) throw error;
      }
      for (const name of await readdir(doomed).catch(() => [])) await rm(join(doomed, name), { recursive: true, force: true });
      this.index.remove(id);
      await rm(doomed, { recursive: true, force: true });
      return true;
    } catch (error) {
      this.onProblem?.({ kind: 'delete-failed', message: `cannot delete incident ${id}: ${(error as Error).message}; the next retention pass or reconcile finishes it`, path: doomed });
      return false;
    } finally {
      this.busy.delete(id);
    }
  }

  /**
   * The outbox: incidents on disk whose notifications are not all delivered or failed, oldest
   * first, from the index alone. The notification dispatcher hands these to the queue.
   */
  outbox(): Array<{ id: string; notifications: NotificationOutcome[] }> {
    return this.index.outbox();
  }

  private rewriteNotifications(id: string, change: (current: NotificationOutcome[]) => NotificationOutcome[]): Promise<boolean> {
    return this.rewriteRecord(id, (record) => ({ ...record, notifications: change(record.notifications) }), 'cannot record notifications of');
  }

  /**
   * Rewrites incident.json atomically with `change`, the index row marked dirty meanwhile (a crash
   * in between is repaired by the next reconcile); false when there is no such readable incident.
   */
  private async rewriteRecord(id: string, change: (record: IncidentRecord) => IncidentRecord, failing = 'cannot update'): Promise<boolean> {
    const release = this.holds.hold(id);
    try {
      const path = join(this.incidentsDir, id, RECORD_FILE);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      const parsed = parseIncidentRecord(text, id);
      if ('problem' in parsed) return false;
      const record = change(parsed.record);
      this.index.setDirty(id, true);
      try {
        await replaceFileAtomically(path, JSON.stringify(record, null, 2) + '\n');
      } catch (error) {
        throw this.failure(`${failing} incident ${id}`, error);
      }
      this.index.setNotifications(id, record.notifications);
      return true;
    } finally {
      release();
    }
  }

  /**
   * A directory already at the final name: a previous attempt renamed it into place but did not
   * index it. It is whole (only a rename puts it there), so index it instead of refusing the retry.
   */
  private async indexExisting(id: string, final: string): Promise<string> {
    if (this.index.get(id)) throw new StoreError(STORE_CODES.exists, `incident ${id} is already stored`);
    const read = await readIncidentDirectory(final, id);
    if ('problem' in read) throw new StoreError(STORE_CODES.exists, `${final} exists and is not a readable incident (${read.problem})`, 'Move it away and retry');
    try {
      this.index.insert(rowFromRecord(read.record, read.bytes, this.clock()));
    } catch (error) {
      throw this.failure(`incident ${id} is on disk but could not be indexed`, error);
    }
    return final;
  }

  /** A read the disk refused: the error callers branch on, not remembered (lastError is for writes). */
  private readFailure(message: string, error: unknown): StoreError {
    const code = storageErrorCode(error);
    return new StoreError(code, `${message}: ${(error as Error | undefined)?.message ?? String(error)}`, storageHint(code, this.stateDir), { cause: error });
  }

  /** Remembers a disk failure for /status and turns it into the error callers branch on. */
  private failure(message: string, error: unknown): StoreError {
    const code = storageErrorCode(error);
    const cause = (error as Error | undefined)?.message ?? String(error);
    this.lastError = { at_ms: this.clock(), message: `${message}: ${cause}`, code };
    return new StoreError(code, `${message}: ${cause}`, storageHint(code, this.stateDir), { cause: error });
  }

  private cursorKey(cursor: string): { firedAtMs: number; id: string } {
    const key = decodeCursor(cursor);
    if (key) return key;
    // A bare id, as the directory-scan listing handed out, still works while its incident exists.
    const row = INCIDENT_ID_PATTERN.test(cursor) ? this.index.get(cursor) : undefined;
    if (row) return { firedAtMs: row.fired_at, id: row.id };
    throw new StoreError(STORE_CODES.cursor, `cursor ${JSON.stringify(cursor)} is not one this list handed out`, 'Start again from the first page');
  }
}

/**
 * Refuses ids and file names that could escape the store or collide with its own files, and
 * records that reconcile could not index again (so one never reaches the disk to be moved aside).
 */
function checkWritable(record: IncidentRecord, files: Array<[string, string | Uint8Array]>): void {
  const id = record.id;
  if (!INCIDENT_ID_PATTERN.test(id)) throw new StoreError(STORE_CODES.invalid, `incident id ${JSON.stringify(id)} is not one newIncidentId makes`);
  const checked = parseIncidentRecord(JSON.stringify(record), id);
  if ('problem' in checked) throw new StoreError(STORE_CODES.invalid, `incident ${id} cannot be stored: ${checked.problem.replace('incident.json', 'the record')}`);
  const seen = new Set<string>();
  for (const [name] of files) {
    if (!INCIDENT_FILE_NAME_PATTERN.test(name)) throw new StoreError(STORE_CODES.invalid, `incident file name ${JSON.stringify(name)} is not a plain file name`);
    if (name === RECORD_FILE) throw new StoreError(STORE_CODES.invalid, 'incident.json is written from the record; do not pass it as a file');
    if (seen.has(name)) throw new StoreError(STORE_CODES.invalid, `incident file ${name} is given twice`);
    seen.add(name);
  }
}

/** A file that is not there: ENOENT, or ENOTDIR when a path component is a plain file. */
function isAbsent(error: unknown): boolean {
  return isNotFound(error) || (error as { code?: unknown } | null)?.code === 'ENOTDIR';
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Opens the index; when SQLite says the file is not a database or is corrupt, moves it (and its
 * WAL) aside and starts an empty one, which reconcile then fills from the directories.
 */
async function openOrRebuildIndex(dbPath: string, options: IncidentStoreOptions): Promise<IncidentIndex> {
  try {
    return IncidentIndex.open(dbPath);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB') throw error;
    const aside = `${dbPath}.corrupt-${(options.clock ?? Date.now)()}`;
    await rename(dbPath, aside);
    for (const suffix of ['-wal', '-shm']) await rm(dbPath + suffix, { force: true });
    options.onProblem?.({ kind: 'index-rebuilt', message: `${dbPath} could not be read (${(error as Error).message}); moved to ${aside} and rebuilt from the incident directories`, path: aside });
    return IncidentIndex.open(dbPath);
  }
}
