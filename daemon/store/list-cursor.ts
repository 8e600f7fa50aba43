import { INCIDENT_ID_PATTERN } from '../capture/incident-id.js';

/** Where a page ended: the last row's sort key. Pages continue strictly below it. */
export interface CursorKey {
  firedAtMs: number;
  id: string;
}

/**
 * Cursors are `<fired_at ms>.<id>`: the sort key itself, so the next page is one index seek
 * (keyset pagination) and stays correct while incidents are added or removed between requests,
 * unlike an offset. Only URL-safe characters, since it travels in `?cursor=`.
 */
export function encodeCursor(key: CursorKey): string {
  return `${key.firedAtMs}.${key.id}`;
}

/** The key in a cursor, or undefined when it is not one {@link encodeCursor} made. */
export function decodeCursor(cursor: string): CursorKey | undefined {
  const match = /^(\d{1,16})\.(.+)$/.exec(cursor);
  if (!match || !INCIDENT_ID_PATTERN.test(match[2])) return undefined;
  const firedAtMs = Number(match[1]);
  return Number.isSafeInteger(firedAtMs) ? { firedAtMs, id: match[2] } : undefined;
}
