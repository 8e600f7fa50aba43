/**
 * The vocabulary shared by the notification queue and the senders (Slack, Slack webhook, email):
 * what a message says, how a sender reports a failure, and what is recorded per target.
 */

/** Where one notification of an incident stands, as incident.json and GET /api/incidents/:id show it. */
export type NotificationStatus = 'pending' | 'retrying' | 'delivered' | 'failed';

/** One target's notification of one incident. Field names are what the API returns. */
export interface NotificationOutcome {
  /** The notifier's name in tail2.yaml. */
  target: string;
  status: NotificationStatus;
  /** Delivery attempts made so far. */
  attempts?: number;
  /** Why the last attempt failed (retrying, failed), or what was delivered where. */
  detail?: string;
  /** ISO time of the next attempt, while retrying. */
  next_attempt_at?: string;
  /** ISO time it was delivered. */
  delivered_at?: string;
  /** ISO time of the last change. */
  updated_at?: string;
}

/** A function of the incident's summary, as a message lists it. */
export interface MessageFunction {
  name: string;
  module?: string;
  /** Self share of the trigger window, in percent (0–100). */
  selfPercent: number;
  /** Change of the self share against the baseline window, in percentage points; absent without a baseline. */
  changePoints?: number;
}

/**
 * What every message of an incident says, worked out once from incident.json and summary.json.
 * Every string here except `url` and `id` may carry untrusted text (process names, command lines,
 * symbols): each sender escapes it for its own medium.
 */
export interface IncidentMessage {
  id: string;
  /** `<rule> fired on <host>` or `manual capture on <host>`. */
  title: string;
  rule: string;
  host: string;
  /** ISO time of the firing. */
  firedAt: string;
  process?: { pid: number; comm: string; cmdline: string };
  /** The value against the threshold in words: `cpu 99% of a core (above 80%)`, or the manual reason. */
  trigger: string;
  /** The hottest functions (at most 5), hottest first. */
  topFunctions: MessageFunction[];
  /** Samples in the trigger window (of the process, when the incident names one). */
  samples: number;
  /** The incident page: `<web.public_url>/incidents/<id>`. */
  url: string;
}

/** What a sender sends: the message and, when the incident has one, its flamegraph PNG. */
export interface DeliveryContent {
  message: IncidentMessage;
  flamegraphPng?: Uint8Array;
}

/**
 * How a failed attempt is to be treated.
 * - `transient`: try again later (network down, HTTP 5xx, SMTP 4xx): the queue backs off.
 * - `rate_limited`: the service asked to wait `retryAfterMs` (Slack's 429 Retry-After).
 * - `permanent`: retrying cannot help (invalid_auth, channel_not_found, SMTP 5xx on the recipient).
 */
export type DeliveryFailureKind = 'transient' | 'rate_limited' | 'permanent';

/** A sender's failure, classified so the queue knows whether and when to retry. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly kind: DeliveryFailureKind,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/** One configured notifier. */
export interface NotificationSender {
  /** The notifier's name in tail2.yaml. */
  readonly target: string;
  /**
   * Sends one message. Resolves with a short description of what was delivered (e.g.
   * `slack C0123456 ts 1700000000.000100`); rejects with a {@link DeliveryError}, any other error
   * being treated as transient.
   */
  send(content: DeliveryContent): Promise<string>;
  /** Releases connections (SMTP pools). */
  close?(): Promise<void>;
}
