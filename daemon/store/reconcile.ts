import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { INCIDENT_ID_PATTERN } from '../capture/incident-id.js';
import type { IncidentRecord } from '../model/incident-record.js';
import { fsyncDirectory, isNotFound } from './durable-fs.js';
import { RECORD_FILE } from './incident-artifacts.js';
import { rowFromRecord, type IncidentIndex, type IndexRow } from './incident-index.js';
import { parseIncidentRecord } from '../model/incident-record.js';
import type { StoreProblemHandler } from './store-problem.js';

/** Prefixes of the store's own entries in `incidents/`; incident ids never start with a dot. */
export const TEMPORARY_PREFIX = '.tmp-';
export const DELETING_PREFIX = '.deleting-';
export const CORRUPT_PREFIX = '.corrupt-';

const READ_CONCURRENCY = 16;

/** What a reconcile pass found and repaired. */
export interface ReconcileCounts {
  /** Half-written `.tmp-<id>` directories removed (a write cut short). */
  removedTemporary: number;
  /** `.deleting-<id>` directories removed (a retention delete cut short). */
  finishedDeletes: number;
  /** Directories that had no index row and got one. */
  reindexed: number;
  /** Rows read again from incident.json: marked missing but back, or cut short mid-update. */
  refreshed: number;
  /** Directories with a missing or unreadable incident.json, moved to `.corrupt-<id>`. */
  movedCorrupt: number;
  /** Rows whose directory is gone, now `status = 'missing'`. */
  markedMissing: number;
}

export interface ReconcileContext {
  incidentsDir: string;
  index: IncidentIndex;
  /** Whether this process is writing, deleting or updating `id` right now: its entries are in flux, not debris. */
  isBusy: (id: string) => boolean;
  nowMs: number;
  onProblem?: StoreProblemHandler;
}

/**
 * Brings the index and the incident directories back into agreement after a crash, a lost index
 * or a hand edit. The directories are the truth: the index is rebuilt from them, never the
 * reverse, and nothing a person could still want is deleted (corrupt directories are moved aside,
 * rows without a directory are marked, not dropped).
 */
export async function reconcileIncidents(context: ReconcileContext): Promise<ReconcileCounts> {
  const { incidentsDir, index, isBusy } = context;
  const counts: ReconcileCounts = { removedTemporary: 0, finishedDeletes: 0, reindexed: 0, refreshed: 0, movedCorrupt: 0, markedMissing: 0 };
  // Rows before directories: a write that finishes in between is then either seen whole on both
  // sides or still busy.
  const states = index.states();
  const entries = await readdir(incidentsDir, { withFileTypes: true });
  const onDisk = new Set<string>();
  const rows: IndexRow[] = [];
  const toRead: string[] = [];
  for (const entry of entries) {
    const name = entry.name;
    const path = join(incidentsDir, name);
    if (name.startsWith(TEMPORARY_PREFIX)) {
      if (isBusy(name.slice(TEMPORARY_PREFIX.length))) continue;
      await rm(path, { recursive: true, force: true });
      counts.removedTemporary++;
    } else if (name.startsWith(DELETING_PREFIX)) {
      const id = name.slice(DELETING_PREFIX.length);
      if (isBusy(id)) continue;
      // Retention renames before it drops the row, so the row may still be there.
      index.remove(id);
      states.delete(id);
      await rm(path, { recursive: true, force: true });
      counts.finishedDeletes++;
    } else if (INCIDENT_ID_PATTERN.test(name) && entry.isDirectory()) {
      onDisk.add(name);
      const state = states.get(name);
      if ((state && state.status !== 'missing' && !state.dirty) || isBusy(name)) continue;
      toRead.push(name);
    }
    // Anything else (.corrupt-* dirs, files a person left) is not the store's to touch.
  }
  // Reading is the slow part when the whole index was lost (10,000 incident.json files): a few at
  // a time keeps the disk queue busy without opening thousands of files at once.
  await forEachLimited(toRead, READ_CONCURRENCY, async (name) => {
    const read = await readIncidentDirectory(join(incidentsDir, name), name);
    if ('problem' in read) {
      onDisk.delete(name);
      const aside = await moveAside(incidentsDir, name, context.nowMs);
      counts.movedCorrupt++;
      context.onProblem?.({ kind: 'corrupt-incident', message: `incident ${name}: ${read.problem}; moved to ${aside}`, path: join(incidentsDir, aside) });
      return;
    }
    const known = states.has(name);
    const createdAt = known ? (index.get(name)?.created_at ?? context.nowMs) : context.nowMs;
    rows.push(rowFromRecord(read.record, read.bytes, createdAt));
    if (known) counts.refreshed++;
    else counts.reindexed++;
  });
  index.upsertMany(rows);
  const gone = [...states].filter(([id, state]) => state.status !== 'missing' && !onDisk.has(id) && !isBusy(id)).map(([id]) => id);
  counts.markedMissing = index.setStatus(gone, 'missing');
  return counts;
}

/** An incident directory's record and the bytes of its files, or why it cannot be indexed. */
export async function readIncidentDirectory(path: string, id: string): Promise<{ record: IncidentRecord; bytes: number } | { problem: string }> {
  let text: string;
  try {
    text = await readFile(join(path, RECORD_FILE), 'utf8');
  } catch (error) {
    return { problem: isNotFound(error) ? 'no incident.json' : `incident.json cannot be read (${(error as Error).message})` };
  }
  const parsed = parseIncidentRecord(text, id);
  if ('problem' in parsed) return parsed;
  let bytes = 0;
  for (const name of await readdir(path)) {
    const info = await stat(join(path, name)).catch(() => undefined);
    if (info?.isFile()) bytes += info.size;
  }
  return { record: parsed.record, bytes };
}

/** Renames a directory to `.corrupt-<id>` (with a time suffix if that is taken); returns the new name. */
async function moveAside(incidentsDir: string, id: string, nowMs: number): Promise<string> {
  let name = `${CORRUPT_PREFIX}${id}`;
  const taken = await stat(join(incidentsDir, name)).then(
    () => true,
    () => false,
  );
  if (taken) name = `${name}-${nowMs}`;
  await rename(join(incidentsDir, id), join(incidentsDir, name));
  await fsyncDirectory(incidentsDir);
  return name;
}

/** Runs `task` over `items` with at most `limit` running at once. */
async function forEachLimited<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
