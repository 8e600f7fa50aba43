import type { NotificationOutcome } from '../model/notification.js';
import { timeView, type TimeView } from './time-text.js';

/** One notification as the pages show it: a badge on the list, a table row on the incident page. */
export interface NotificationView {
  target: string;
  status: NotificationOutcome['status'];
  /** CSS class of the badge: `badge-delivered`, `badge-retrying`, `badge-failed`, `badge-pending`. */
  badgeClass: string;
  /** The badge's words: `delivered`, `retrying, next in 2 min`, `failed: channel_not_found`. */
  badgeText: string;
  attempts: number;
  detail: string;
  nextAttempt: TimeView | undefined;
  delivered: TimeView | undefined;
  updated: TimeView | undefined;
}

const KNOWN = new Set(['pending', 'retrying', 'delivered', 'failed']);

/** Badge text stays short on a phone; the whole reason is in the badge's tooltip and on the incident page. */
const SHORT_REASON = 60;

export function notificationViews(outcomes: readonly NotificationOutcome[], nowMs: number): NotificationView[] {
  return outcomes.map((outcome) => {
    const status = KNOWN.has(outcome.status) ? outcome.status : 'pending';
    const nextAttempt = timeView(outcome.next_attempt_at, nowMs);
    const detail = typeof outcome.detail === 'string' ? outcome.detail : '';
    let badgeText: string = status;
    if (status === 'retrying') badgeText = nextAttempt ? `retrying, next ${nextAttempt.relative}` : 'retrying';
    else if (status === 'failed' && detail) badgeText = `failed: ${detail.length > SHORT_REASON ? `${detail.slice(0, SHORT_REASON - 1)}…` : detail}`;
    return {
      target: String(outcome.target),
      status,
      badgeClass: `badge-${status}`,
      badgeText,
      attempts: typeof outcome.attempts === 'number' ? outcome.attempts : 0,
      detail,
      nextAttempt,
      delivered: timeView(outcome.delivered_at, nowMs),
      updated: timeView(outcome.updated_at, nowMs),
    };
  });
}
