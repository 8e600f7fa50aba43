/**
 * The vocabulary of the notification queue and the senders (Slack, Slack webhook, email): what a
 * message says, and how a sender reports a failure. What is recorded per target is shared with the
 * store and the pages: daemon/model/notification.ts.
 */
import { Tail2Error } from '../daemon/model/tail2-error.js';

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
  /** The cgroup a cgroup or unit rule watched (path below the mount), and its systemd unit when it is one. */
  cgroup?: { path: string; unit?: string };
  /**
   * How idle the host's CPUs were in the trigger window, `CPUs 45% idle` (with `(80% before)`
   * when there is a baseline): the idle task is not among the functions. Absent when not known.
   */
  idle?: string;
  /** The value against the threshold in words: `cpu 99% of a core (above 80%)`, or the manual reason. */
  trigger: string;
  /** The hottest functions (at most 5), hottest first. */
  topFunctions: MessageFunction[];
  /**
   * Set when the functions and the image are of another profile than CPU (a memory rule's page
   * faults): its title (`Page faults`) and how much the shares are of (`350 MiB`).
   */
  profile?: { title: string; amount: string };
  /** Samples in the trigger window (of the process, when the incident names one). */
  samples: number;
  /** The incident page: `<web.public_url>/incidents/<id>`. */
  url: string;
}

/**
 * What a sender sends: the message and, when the incident has one, its flamegraph PNG — of what
 * the rule watched (the process, cgroup or unit) when it was not the whole host.
 */
export interface DeliveryContent {
  message: IncidentMessage;
  flamegraphPng?: Uint8Array;
  /** Whose samples the PNG shows, in words (`burner (pid 4242)`, `nginx.service`, `every process on db-1`), for alt texts. Untrusted. */
  flamegraphOf?: string;
}

/**
 * How a failed attempt is to be treated.
 * - `transient`: try again later (network down, HTTP 5xx, SMTP 4xx): the queue backs off.
 * - `rate_limited`: the service asked to wait `retryAfterMs` (Slack's 429 Retry-After).
 * - `permanent`: retrying cannot help (invalid_auth, channel_not_found, SMTP 5xx on the recipient).
 */
export type DeliveryFailureKind = 'transient' | 'rate_limited' | 'permanent';

/** A sender's failure, classified so the queue knows whether and when to retry. */
export class DeliveryError extends Tail2Error<`TAIL2_DELIVERY_${Uppercase<DeliveryFailureKind>}`> {
  override name = 'DeliveryError';

  constructor(
    message: string,
    readonly kind: DeliveryFailureKind,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(`TAIL2_DELIVERY_${kind.toUpperCase() as Uppercase<DeliveryFailureKind>}`, message, undefined, options);
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
