/**
 * The email notifier: sends an incident's message over SMTP (nodemailer) with the flamegraph as
 * an inline image, and sorts SMTP failures into retry-later and give-up for the queue.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPSentMessageInfo, SMTPTransportOptions, Transporter } from 'nodemailer';
import { Tail2Error } from '../daemon/model/tail2-error.js';
import { emailMessage } from './email-message.js';
import { DeliveryError, type DeliveryContent, type NotificationSender } from './delivery.js';

export interface EmailSenderOptions {
  /** The notifier's name in tail2.yaml. */
  target: string;
  /** `smtp://[user:pass@]host[:port]` (STARTTLS when offered) or `smtps://…` (TLS from the start, port 465). */
  smtp: string;
  /** The From address, `tail2 <tail2@example.com>` or a bare address. */
  from: string;
  /** Recipients; each one gets the same message, all listed in To. */
  to: string[];
  /** Limit for connecting, the greeting, and any silence of the server, in ms. @defaultValue 15000 */
  timeoutMs?: number;
}

/** Connection and timeout failures: the server may well be back on the next attempt. */
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY']);
/** Failures of the configuration itself, which no retry fixes. */
const CONFIG_CODES = new Set(['ECONFIG', 'EENVELOPE', 'EMAXRECIPIENTS', 'EREQUIRETLS', 'ENOAUTH']);

/**
 * Sends incidents by email. One SMTP connection per message rather than a pool: incidents are
 * rare, and a fresh connection never trips over one the server dropped while idle.
 */
export class EmailSender implements NotificationSender {
  readonly target: string;
  private readonly transport: Transporter<SMTPSentMessageInfo, SMTPTransportOptions>;
  private readonly from: string;
  private readonly to: string[];
  /** The server as messages name it: scheme, host and port, never the credentials. */
  private readonly server: string;
  /** Strings no message may contain: the password, raw, decoded and base64-encoded (see secretsOf). */
  private readonly secrets: string[];

  constructor(options: EmailSenderOptions) {
    this.target = options.target;
    let url: URL;
    try {
      url = new URL(options.smtp);
    } catch {
      throw new Tail2Error('TAIL2_CONFIG', `notifier ${options.target}: smtp is not a URL.`, 'Write it as smtp://user:pass@host:587 or smtps://user:pass@host:465.');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      throw new Tail2Error('TAIL2_CONFIG', `notifier ${options.target}: smtp must start with smtp:// or smtps://, not ${url.protocol}//.`);
    }
    if (options.to.length === 0) {
      throw new Tail2Error('TAIL2_CONFIG', `notifier ${options.target}: "to" lists no recipient.`);
    }
    this.server = `${url.protocol}//${url.host}`;
    this.secrets = secretsOf(url);
    this.from = options.from;
    this.to = [...options.to];
    const timeoutMs = options.timeoutMs ?? 15_000;
    this.transport = nodemailer.createTransport({
      url: options.smtp,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
      // The message is built from buffers and strings only; nothing may make nodemailer read a
      // file or fetch a URL on tail2's behalf.
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    });
  }

  /**
   * Sends the message. Resolves with `email to a@b, c@d (message-id <…>)`.
   *
   * When the server takes the message for some recipients and refuses others, it counts as
   * delivered and the receipt names the refused ones: retrying would send a second copy to
   * everyone who already has it, and a refused address (5xx) is refused again next time.
   * @throws DeliveryError `permanent` for refused recipients, sender, message or login;
   *   `transient` for 4xx answers and connection failures.
   */
  async send(content: DeliveryContent): Promise<string> {
    const { message, flamegraphPng, flamegraphOf } = content;
    const imageCid = `flamegraph-${message.id.replace(/[^A-Za-z0-9._-]/g, '_')}@tail2`;
    const email = emailMessage(message, { hasImage: flamegraphPng !== undefined, imageCid, imageOf: flamegraphOf });
    let info: SMTPSentMessageInfo;
    try {
      info = await this.transport.sendMail({
        from: this.from,
        to: this.to,
        subject: email.subject,
        text: email.text,
        html: email.html,
        // RFC 3834: keeps vacation responders from answering an alert.
        headers: { 'Auto-Submitted': 'auto-generated' },
        attachments: flamegraphPng
          ? [
              {
                filename: 'flamegraph.png',
                content: Buffer.from(flamegraphPng.buffer, flamegraphPng.byteOffset, flamegraphPng.byteLength),
                contentType: 'image/png',
                contentDisposition: 'inline',
                cid: imageCid,
              },
            ]
          : [],
      });
    } catch (error) {
      throw this.classify(error);
    }
    return this.redact(receipt(info));
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  /** The DeliveryError for what nodemailer threw. The original error is not attached: its fields are not ours to vouch for. */
  private classify(error: unknown): DeliveryError {
    const fail = (text: string, kind: 'transient' | 'permanent'): DeliveryError =>
      new DeliveryError(this.redact(`email notifier ${this.target}: ${text}`), kind);
    if (!(error instanceof Error)) return fail(String(error), 'transient');
    const e = error as NodemailerError;
    const code = e.code ?? 'unknown';
    const answer = e.response !== undefined ? oneLine(e.response) : undefined;
    const rc = e.responseCode;

    if (rc !== undefined && rc >= 400 && rc < 500) {
      return fail(`${this.server} answered ${e.command ?? 'the command'} with ${answer} (temporary, will retry)`, 'transient');
    }
    if (code === 'EAUTH' || rc === 535 || rc === 534) {
      return fail(`${this.server} refused the login${answer ? ` (${answer})` : `: ${oneLine(e.message)}`}: check the SMTP credentials in tail2.yaml`, 'permanent');
    }
    if (rc === 530) {
      return fail(`${this.server} requires a login (${answer}): add user:pass to the smtp URL in tail2.yaml`, 'permanent');
    }
    if (rc !== undefined && rc >= 500 && e.permanent !== false) {
      if (e.command === 'RCPT TO') {
        const refused = (e.rejectedErrors ?? []).map((r) => `${r.recipient ?? '?'} (${oneLine(r.response ?? r.message)})`);
        return fail(`${this.server} refused every recipient: ${refused.length ? refused.join(', ') : answer}; check "to" in tail2.yaml`, 'permanent');
      }
      if (e.command === 'MAIL FROM') {
        return fail(`${this.server} refused the sender ${this.from} (${answer}); check "from" in tail2.yaml`, 'permanent');
      }
      if (e.command === 'DATA') {
        return fail(`${this.server} refused the message (${answer})`, 'permanent');
      }
      return fail(`${this.server} answered ${e.command ?? 'a command'} with ${answer}`, 'permanent');
    }
    // 503 ("bad sequence of commands") and unexpected 2xx/3xx answers: the session was out of
    // step rather than the message refused (nodemailer marks them not permanent), so a new
    // connection may well go through.
    if (rc !== undefined) {
      return fail(`${this.server} answered ${e.command ?? 'a command'} with ${answer} (out of step; will retry on a new connection)`, 'transient');
    }
    if (CONNECTION_CODES.has(code)) {
      if (code === 'ETIMEDOUT') {
        return fail(`${this.server} did not answer in time (${e.timeoutType ?? code}); will retry`, 'transient');
      }
      const cause = e.originalCode ? `${code}/${e.originalCode}` : code;
      return fail(`cannot reach ${this.server} (${cause}: ${oneLine(e.message)}); will retry`, 'transient');
    }
    if (CONFIG_CODES.has(code)) {
      return fail(`${oneLine(e.message)} (${code}); check the email notifier in tail2.yaml`, 'permanent');
    }
    return fail(`${oneLine(e.message)} (${code}${answer ? `, ${this.server} answered ${answer}` : ''})`, 'transient');
  }

  /** `text` with every secret replaced by `***`. */
  private redact(text: string): string {
    return this.secrets.reduce((out, secret) => out.split(secret).join('***'), text);
  }
}

/** `email to a@b, c@d (message-id <…>)`, plus the refused recipients and why. */
function receipt(info: SMTPSentMessageInfo): string {
  let text = `email to ${info.accepted.join(', ')} (message-id ${info.messageId})`;
  if (info.rejected.length > 0) {
    const why = new Map((info.rejectedErrors ?? []).map((e) => [e.recipient, e.response ?? e.message]));
    text += `; refused: ${info.rejected.map((r) => `${r} (${oneLine(why.get(r) ?? 'no reason given')})`).join(', ')}`;
  }
  return text;
}

/**
 * The password as it could show up in a message: raw, percent-decoded, and inside the base64 of
 * AUTH LOGIN/PLAIN should a server echo a command back. Very short passwords are skipped: blanking
 * every "a" would garble the message without protecting anything.
 */
function secretsOf(url: URL): string[] {
  if (!url.password) return [];
  const decoded = safeDecode(url.password);
  const user = safeDecode(url.username);
  const forms = [
    url.password,
    decoded,
    Buffer.from(decoded).toString('base64'),
    Buffer.from(`\u0000${user}\u0000${decoded}`).toString('base64'),
  ];
  return [...new Set(forms)].filter((s) => s.length >= 4);
}

/** Percent-decoded; a stray % is taken literally, as nodemailer does. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Server answers can span lines (multi-line replies); a receipt and an error detail are one line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001F\u007F]+/g, ' ').replace(/\s+/g, ' ').trim();
}
