/** How long to wait between delivery attempts. */
export interface BackoffPolicy {
  /** Wait after the first failure (ms). */
  baseMs: number;
  /** The longest wait (ms): an outage of hours is retried at this pace. */
  maxMs: number;
}

/** Five seconds, doubling to ten minutes: a Slack blip is over in seconds, an SMTP outage in hours. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, maxMs: 600_000 };

/**
 * The wait before the next attempt after `failures` failed ones: exponential, capped, with "equal
 * jitter" (between half and all of the step) so that after an outage the queued notifications of
 * every host do not hit Slack or the mail server in the same second.
 */
export function retryDelayMs(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(step / 2 + random() * (step / 2));
}
