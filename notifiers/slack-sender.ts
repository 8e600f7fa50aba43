/**
 * Posts incidents to a Slack channel with a bot token (Web API): the message and its flamegraph
 * PNG as one post, and every failure classified so the queue knows whether to retry.
 */
import {
  LogLevel,
  WebAPIFileUploadInvalidArgumentsError,
  WebAPIFileUploadReadFileDataError,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type Logger,
} from '@slack/web-api';
import { DeliveryError, type DeliveryContent, type NotificationSender } from './delivery.js';
import { slackMessage } from './slack-blocks.js';

/** One `slack` notifier of tail2.yaml. */
export interface SlackSenderOptions {
  /** The notifier's name in tail2.yaml. */
  target: string;
  /** Bot token (`xoxb-…`) with `chat:write` and `files:write`. */
  token: string;
  /** Channel ID (`C0123456789`); the bot must be a member. */
  channel: string;
  /** Web API base URL. @defaultValue `https://slack.com/api/` */
  apiUrl?: string;
  /** Per-request timeout, in milliseconds. @defaultValue 15000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Platform errors retrying cannot fix, with what the operator has to do. */
const PERMANENT: Record<string, (s: SlackSender) => string> = {
  invalid_auth: refusedToken,
  not_authed: refusedToken,
  account_inactive: refusedToken,
  token_revoked: (s) => `${refusedToken(s)} (reinstalling the app issues a new one)`,
  token_expired: (s) => `${refusedToken(s)} (rotate it, or use a bot token that does not expire)`,
  not_allowed_token_type: (s) => `${refusedToken(s)}: it must be a bot token (xoxb-…)`,
  no_permission: missingPermission,
  missing_scope: missingPermission,
  restricted_action: (s) => `the workspace does not let the app of notifier ${s.target} post in channel ${s.channel}: ask a Slack admin`,
  org_login_required: (s) => `the workspace of notifier ${s.target} needs an admin to approve the app (org_login_required)`,
  ekm_access_denied: (s) => `Slack EKM denied notifier ${s.target} access: ask a Slack admin`,
  team_access_not_granted: (s) => `the token of notifier ${s.target} has no access to this workspace: check the token in tail2.yaml`,
  access_denied: (s) => `Slack denied notifier ${s.target} access to channel ${s.channel}: check the channel id in tail2.yaml`,
  channel_not_found: (s) =>
    `Slack has no channel ${s.channel} for notifier ${s.target}: check the channel id in tail2.yaml (the ID, not the name) and, for a private channel, invite the bot with /invite`,
  not_in_channel: (s) => `the bot of notifier ${s.target} is not in channel ${s.channel}: invite it with /invite @<app name>`,
  is_archived: (s) => `channel ${s.channel} of notifier ${s.target} is archived: unarchive it or set another channel in tail2.yaml`,
  // These mean the request itself is wrong: a tail2 bug, not something a retry or the operator fixes.
  invalid_arguments: rejectedMessage,
  invalid_blocks: rejectedMessage,
  invalid_blocks_format: rejectedMessage,
  msg_too_long: rejectedMessage,
  no_text: rejectedMessage,
  invalid_form_data: rejectedMessage,
  method_deprecated: rejectedMessage,
  deprecated_endpoint: rejectedMessage,
};

function refusedToken(s: SlackSender): string {
  return `Slack refused the token of notifier ${s.target}: check the token in tail2.yaml`;
}

function missingPermission(s: SlackSender): string {
  return `the Slack app of notifier ${s.target} lacks a scope: give it chat:write and files:write, then reinstall it`;
}

function rejectedMessage(s: SlackSender): string {
  return `Slack rejected the message of notifier ${s.target}: this is a tail2 bug, please report it`;
}

/** Retries belong to the queue (it persists them and backs off), so the client never logs or retries. */
const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

/** Sends incident messages through Slack's Web API (`chat.postMessage`, or the files upload with a PNG). */
export class SlackSender implements NotificationSender {
  readonly target: string;
  readonly channel: string;
  private readonly client: WebClient;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor({ target, token, channel, apiUrl, timeoutMs }: SlackSenderOptions) {
    this.target = target;
    this.channel = channel;
    this.token = token;
    this.timeoutMs = timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.client = new WebClient(token, {
      slackApiUrl: apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: this.timeoutMs,
      logger: silentLogger,
    });
  }

  /**
   * With a PNG, one post carrying the blocks and the image (`files.uploadV2`, whose three calls are
   * getUploadURLExternal, the upload, completeUploadExternal); without, `chat.postMessage`.
   * Resolves with `slack <channel> file <id>` or `slack <channel> ts <ts>`.
   */
  async send({ message, flamegraphPng, flamegraphOf }: DeliveryContent): Promise<string> {
    const { text, blocks } = slackMessage(message);
    try {
      if (flamegraphPng) {
        const result = await this.client.filesUploadV2({
          channel_id: this.channel,
          // Buffer, not Uint8Array: the client only sends Buffers as binary.
          file: Buffer.from(flamegraphPng.buffer, flamegraphPng.byteOffset, flamegraphPng.byteLength),
          filename: `flamegraph-${message.id}.png`,
          title: `Flamegraph of incident ${message.id}`,
          alt_text: `Flamegraph of ${altTextOf(flamegraphOf) ?? `incident ${message.id}`}: the wider a box, the more ${message.profile ? `of the ${message.profile.title.toLowerCase()} its function accounts for` : 'CPU time its function took'}`,
          // No initial_comment: Slack ignores blocks when one is given. There is no fallback-text
          // parameter on this path; Slack derives the notification from the blocks.
          blocks,
        });
        const fileId = result.files[0]?.files?.[0]?.id ?? 'unknown';
        return `slack ${this.channel} file ${fileId}`;
      }
      const result = await this.client.chat.postMessage({ channel: this.channel, text, blocks, unfurl_links: false, unfurl_media: false });
      return `slack ${result.channel ?? this.channel} ts ${result.ts ?? 'unknown'}`;
    } catch (error) {
      throw this.classify(error);
    }
  }

  /** Maps the client's errors onto the queue's retry decisions. */
  private classify(error: unknown): DeliveryError {
    if (error instanceof DeliveryError) return error;
    const failure = this.describe(error);
    // Belt and braces: none of the messages above contain the token, and none ever should.
    const message = this.token === '' ? failure.message : failure.message.split(this.token).join('[token]');
    return new DeliveryError(message, failure.kind, failure.retryAfterMs, { cause: error });
  }

  private describe(error: unknown): Pick<DeliveryError, 'message' | 'kind' | 'retryAfterMs'> {
    const who = `notifier ${this.target}`;
    if (error instanceof WebAPIRateLimitedError) {
      return { kind: 'rate_limited', retryAfterMs: error.retryAfter * 1000, message: `Slack rate-limited ${who}: retry after ${error.retryAfter} s` };
    }
    if (error instanceof WebAPIPlatformError) {
      // A body that is not JSON (a proxy's HTML page) arrives as `error`; keep the message short.
      const code = String(error.data.error).slice(0, 200);
      const hint = PERMANENT[code];
      if (hint) {
        const needed = 'needed' in error.data && typeof error.data.needed === 'string' ? `, needs ${error.data.needed}` : '';
        return { kind: 'permanent', message: `${hint(this)} (${code}${needed})` };
      }
      const retryAfter = error.data.response_metadata?.retryAfter;
      if (retryAfter !== undefined) {
        return { kind: 'rate_limited', retryAfterMs: retryAfter * 1000, message: `Slack answered ${code} to ${who}: retry after ${retryAfter} s` };
      }
      return { kind: 'transient', message: `Slack answered ${code} to ${who}; will retry` };
    }
    if (error instanceof WebAPIHTTPError) {
      const status = error.statusCode;
      const transient = status >= 500 || status === 408;
      return {
        kind: transient ? 'transient' : 'permanent',
        message: transient
          ? `Slack answered HTTP ${status} to ${who}; will retry`
          : `Slack answered HTTP ${status} to ${who}: check the notifier's API URL in tail2.yaml`,
      };
    }
    if (error instanceof WebAPIRequestError) {
      const original = error.original;
      const timedOut = original.name === 'TimeoutError' || original.name === 'AbortError';
      const detail = timedOut ? `no answer within ${this.timeoutMs} ms` : networkDetail(original);
      return { kind: 'transient', message: `could not reach Slack for ${who}: ${detail}` };
    }
    if (error instanceof WebAPIFileUploadInvalidArgumentsError || error instanceof WebAPIFileUploadReadFileDataError) {
      return { kind: 'permanent', message: `the Slack client refused the upload of ${who}: ${error.message} (a tail2 bug, please report it)` };
    }
    // The client reports a failed upload to the upload URL, and a 429 without Retry-After, as a
    // plain Error; both are worth another try.
    const text = error instanceof Error ? error.message : String(error);
    return { kind: 'transient', message: `Slack delivery of ${who} failed: ${text}` };
  }
}

/** `fetch failed` says nothing; the cause (ECONNREFUSED, ENOTFOUND, a TLS error) does. */
function networkDetail(error: Error): string {
  const cause = error.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message;
  }
  return error.message;
}

/** Longest "whose flamegraph" in an alt text: Slack takes 1,000 characters for all of it. */
const ALT_SUBJECT_MAX = 200;

/** Whose flamegraph it is, for the plain-text alt text: one line, cut (a comm or unit is untrusted). */
function altTextOf(subject: string | undefined): string | undefined {
  if (subject === undefined) return undefined;
  const line = subject.replace(/[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length > ALT_SUBJECT_MAX ? `${chars.slice(0, ALT_SUBJECT_MAX - 1).join('')}…` : line || undefined;
}
