import type { RetentionLimits } from './store-config.js';

/** Why retention removes an incident. */
export type RetentionReason = 'age' | 'count' | 'disk';

/** An index row as retention sees it. */
export interface RetentionCandidate {
  id: string;
  firedAtMs: number;
  bytes: number;
  /** False for a `missing` row: it still counts as an incident but holds no bytes. */
  present: boolean;
}

/**
 * Which incidents to remove, oldest first, so that none is older than `maxAgeMs` and at most
 * `maxIncidents` and `maxDiskBytes` remain. A held incident is skipped and the next oldest taken in
 * its place, so the budgets still hold while one is being sent or viewed. Pure, so the policy is
 * tested without a disk.
 *
 * @param oldestFirst rows sorted by firing time, oldest first
 * @param nowMs wall-clock ms the age is measured from
 */
export function planRetention(
  oldestFirst: RetentionCandidate[],
  limits: RetentionLimits,
  nowMs: number,
  isHeld: (id: string) => boolean,
): { remove: Array<{ id: string; reason: RetentionReason }>; held: string[] } {
  let count = oldestFirst.length;
  let bytes = oldestFirst.reduce((sum, row) => sum + (row.present ? row.bytes : 0), 0);
  const tooOld = nowMs - limits.maxAgeMs;
  const remove: Array<{ id: string; reason: RetentionReason }> = [];
  const held: string[] = [];
  for (const row of oldestFirst) {
    const reason: RetentionReason | undefined =
      row.firedAtMs < tooOld ? 'age' : count > limits.maxIncidents ? 'count' : bytes > limits.maxDiskBytes ? 'disk' : undefined;
    // Rows are oldest first: one too young for age, with count and bytes in budget, ends it.
    if (!reason) break;
    if (isHeld(row.id)) {
      held.push(row.id);
      continue;
    }
    remove.push({ id: row.id, reason });
    count--;
    if (row.present) bytes -= row.bytes;
  }
  return { remove, held };
}
