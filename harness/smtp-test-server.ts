/**
 * A real SMTP server (smtp-server) on 127.0.0.1 for the email tests: plain SMTP, no TLS, login
 * optional. Every message it takes is parsed with mailparser's simpleParser, so tests check what a
 * mail client would see. It can refuse recipients, answer MAIL FROM with a temporary failure, and
 * stop and start on the same port to play an SMTP server that is down for a while.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

export interface SmtpTestServer {
  port: number;
  /** smtp://127.0.0.1:PORT */
  url: string;
  /**
   * Messages received, in order. Parsed with `keepCidLinks`, so the HTML keeps its `cid:` image
   * sources (simpleParser would otherwise inline them as `data:` URLs).
   */
  received: ParsedMail[];
  /** When each of `received` arrived (wall-clock ms, the end of its DATA), same order. */
  receivedAtMs: number[];
  /** Recipients (exact addresses) answered with 550 at RCPT TO. */
  rejectRecipients: Set<string>;
  /** Answer 451 (temporary) to the next `n` MAIL FROM commands. */
  failTemporarily(n: number): void;
  /** Resolves with the first `count` messages once that many arrived. @defaultValue timeoutMs 10000 */
  waitForMail(count: number, timeoutMs?: number): Promise<ParsedMail[]>;
  /** Stops listening (the port stays the same for start()). */
  stop(): Promise<void>;
  /** Listens again on the same port, keeping `received`. */
  start(): Promise<void>;
  close(): Promise<void>;
}

interface Waiter {
  count: number;
  resolve: (mail: ParsedMail[]) => void;
}

/** Starts the server; `port` 0 or absent picks a free one, which start() reuses after stop(). */
export async function startSmtpTestServer(options: { port?: number } = {}): Promise<SmtpTestServer> {
  const received: ParsedMail[] = [];
  const receivedAtMs: number[] = [];
  const rejectRecipients = new Set<string>();
  const waiters = new Set<Waiter>();
  let temporaryFailures = 0;
  let port = options.port ?? 0;
  let server: SMTPServer | undefined;

  const smtpError = (message: string, responseCode: number): SMTPServerError => Object.assign(new Error(message), { responseCode });

  const notify = (): void => {
    for (const waiter of waiters) {
      if (received.length >= waiter.count) {
        waiters.delete(waiter);
        waiter.resolve(received.slice(0, waiter.count));
      }
    }
  };

  // A stopped smtp-server cannot listen again, so every start() builds a new one.
  const listen = async (): Promise<void> => {
    const smtp = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      authOptional: true,
      logger: false,
      // stop() should not wait the default 30 s for a client that keeps its connection open.
      closeTimeout: 200,
      onMailFrom(_address, _session, callback) {
        if (temporaryFailures > 0) {
          temporaryFailures -= 1;
          return callback(smtpError('4.3.0 Temporary failure, try again later (test)', 451));
        }
        callback();
      },
      onRcptTo(address, _session, callback) {
        if (rejectRecipients.has(address.address)) {
          return callback(smtpError(`5.1.1 <${address.address}>: Recipient address rejected: User unknown (test)`, 550));
        }
        callback();
      },
      onData(stream, _session, callback) {
        let endedAtMs = 0;
        stream.on('end', () => (endedAtMs = Date.now()));
        simpleParser(stream, { keepCidLinks: true }).then(
          (mail) => {
            received.push(mail);
            receivedAtMs.push(endedAtMs || Date.now());
            callback();
            notify();
          },
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      },
    });
    // A client resetting its connection is reported as an error event; unheard, it would crash the test run.
    smtp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      smtp.server.once('error', reject);
      smtp.listen(port, '127.0.0.1', () => {
        smtp.server.off('error', reject);
        resolve();
      });
    });
    port = (smtp.server.address() as AddressInfo).port;
    server = smtp;
  };

  const stop = async (): Promise<void> => {
    const smtp = server;
    if (!smtp) return;
    server = undefined;
    await new Promise<void>((resolve) => smtp.close(resolve));
  };

  await listen();
  return {
    // Fixed from here on: start() listens on this port again.
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    receivedAtMs,
    rejectRecipients,
    failTemporarily(n: number): void {
      temporaryFailures = n;
    },
    waitForMail(count: number, timeoutMs = 10_000): Promise<ParsedMail[]> {
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          count,
          resolve: (mail) => {
            clearTimeout(timer);
            resolve(mail);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`waited ${timeoutMs} ms for ${count} message(s), ${received.length} arrived`));
        }, timeoutMs);
        waiters.add(waiter);
        notify();
      });
    },
    stop,
    async start(): Promise<void> {
      if (!server) await listen();
    },
    close: stop,
  };
}
