/**
 * Posts incidents to a Slack incoming webhook: the same blocks as the Web API sender, without the
 * flamegraph (webhooks cannot upload files). The webhook URL is a secret, so no message names it.
 */
import { DeliveryError, type DeliveryContent, type NotificationSender } from './delivery.js';
import { slackMessage } from './slack-blocks.js';

/** One `slack_webhook` notifier of tail2.yaml. */
export interface SlackWebhookSenderOptions {
  /** The notifier's name in tail2.yaml. */
  target: string;
  /** `https://hooks.slack.com/services/…`: a secret, never logged. */
  url: string;
  /** Per-request timeout, in milliseconds. @defaultValue 15000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** Slack answers with one word (`invalid_payload`, `no_service`); anything longer is a proxy page. */
const BODY_IN_MESSAGE_MAX = 200;

/** Sends incident messages to a Slack incoming webhook. */
export class SlackWebhookSender implements NotificationSender {
  readonly target: string;
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor({ target, url, timeoutMs }: SlackWebhookSenderOptions) {
    this.target = target;
    this.url = url;
    this.timeoutMs = timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Resolves with `slack webhook of notifier <target>`. */
  async send({ message }: DeliveryContent): Promise<string> {
    const who = `webhook of notifier ${this.target}`;
    const { text, blocks } = slackMessage(message);
    let response: Response;
    let body: string;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ text, blocks, unfurl_links: false, unfurl_media: false }),
        // A redirect would be a misconfigured URL; following it could send the message elsewhere.
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = await response.text();
    } catch (error) {
      // No `cause`: undici's errors may carry the URL, and the queue logs causes.
      throw new DeliveryError(`could not reach the Slack ${who}: ${this.networkDetail(error)}`, 'transient');
    }
    if (response.ok) return `slack ${who}`;
    const said = this.redact(body.replace(/[\u0000-\u001F\u007F]+/g, ' ').trim().slice(0, BODY_IN_MESSAGE_MAX));
    const answer = `HTTP ${response.status}${said ? ` ${said}` : ''}`;
    if (response.status === 429) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      const wait = retryAfterMs === undefined ? '' : `: retry after ${retryAfterMs / 1000} s`;
      throw new DeliveryError(`Slack rate-limited the ${who}${wait}`, 'rate_limited', retryAfterMs);
    }
    if (response.status >= 500 || response.status === 408) {
      throw new DeliveryError(`the Slack ${who} answered ${answer}; will retry`, 'transient');
    }
    throw new DeliveryError(`the Slack ${who} answered ${answer}: ${hint(body.trim())}`, 'permanent');
  }

  private networkDetail(error: unknown): string {
    if (!(error instanceof Error)) return this.redact(String(error));
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no answer within ${this.timeoutMs} ms`;
    const cause = error.cause instanceof Error ? error.cause : error;
    return this.redact(cause.message);
  }

  /** Removes the secret path (and the whole URL) from text we did not write. */
  private redact(text: string): string {
    let path: string;
    try {
      path = new URL(this.url).pathname;
    } catch {
      path = this.url;
    }
    if (this.url === '') return text;
    let out = text.split(this.url).join('[webhook url]');
    if (path.length > 1) out = out.split(path).join('[webhook path]');
    return out;
  }
}

/** What to do about the answers Slack documents for incoming webhooks. */
function hint(body: string): string {
  switch (body) {
    case 'invalid_token':
    case 'no_service':
    case 'no_team':
    case 'team_disabled':
      return 'the webhook was removed or is wrong: create a new one and put its URL in tail2.yaml';
    case 'channel_is_archived':
    case 'channel_not_found':
      return "the webhook's channel is archived or gone: create a webhook for another channel";
    case 'action_prohibited':
    case 'posting_to_general_channel_denied':
      return 'the workspace does not allow this webhook to post there: ask a Slack admin';
    case 'invalid_payload':
    case 'no_text':
    case 'too_many_attachments':
      return 'Slack rejected the message: this is a tail2 bug, please report it';
    default:
      return 'check the webhook URL in tail2.yaml';
  }
}

/** Retry-After is seconds or an HTTP date (RFC 9110); returns milliseconds. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
