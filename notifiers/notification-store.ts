import type { IncidentRecord } from '../daemon/model/incident-record.js';
import type { NotificationOutcome } from '../daemon/model/notification.js';

/**
 * What the notification queue needs of the incident store (daemon/store/incident-store.ts
 * implements it): the outbox to dispatch, the incident to describe, and a place for outcomes.
 */
export interface NotificationStore {
  outbox(): Array<{ id: string; notifications: NotificationOutcome[] }>;
  /** The incident, or undefined only when it is not stored; a read that fails otherwise rejects (retried later). */
  get(id: string): Promise<IncidentRecord | undefined>;
  artifactPath(id: string, name: string): string | undefined;
  updateNotifications(id: string, change: (current: NotificationOutcome[]) => NotificationOutcome[]): Promise<boolean>;
  /** Keeps retention away from the incident while its notification is being sent. */
  hold(id: string): () => void;
}

/** Whether the outcome still needs a delivery attempt. */
export function isOpen(outcome: NotificationOutcome): boolean {
  return outcome.status === 'pending' || outcome.status === 'retrying';
}

/**
 * Records one target's outcome on the incident: the fields of `change` replace the target's
 * entry (fields of the previous attempt that `change` does not set, such as a stale
 * `next_attempt_at`, are dropped), stamped with the time.
 */
export function recordOutcome(store: NotificationStore, id: string, target: string, change: Omit<NotificationOutcome, 'target' | 'updated_at'>, nowMs = Date.now()): Promise<boolean> {
  return store.updateNotifications(id, (current) => {
    const next: NotificationOutcome = { target, ...change, updated_at: new Date(nowMs).toISOString() };
    return current.some((n) => n.target === target) ? current.map((n) => (n.target === target ? next : n)) : [...current, next];
  });
}
