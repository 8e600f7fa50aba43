import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { EmailSender } from '../../notifiers/email-sender.js';
import type { NotificationOutcome } from '../../daemon/model/notification.js';
import type { NotificationSender } from '../../notifiers/delivery.js';
import { NotificationService } from '../../notifiers/notification-service.js';
import { redisConnectionOptions } from '../../notifiers/redis/redis-connection.js';
import { SlackSender } from '../../notifiers/slack-sender.js';
import { testOutput } from '../helpers/fixtures.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';
import { startSmtpTestServer, type SmtpTestServer } from '../helpers/smtp-test-server.js';
import { storeIncident } from '../helpers/stored-incident.js';

const TOKEN = 'xoxb-test-token';
const PUBLIC_URL = 'https://tail2.example.net';
/** Fast retries: the policy is the same, only the scale differs from production. */
const BACKOFF = { baseMs: 100, maxMs: 400 };

let redis: RedisTestServer;
let slack: SlackApiServer;
let smtp: SmtpTestServer;
const scratch = join(testOutput, 'notification-queue');
const cleanups: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  redis = await startRedisTestServer();
  smtp = await startSmtpTestServer();
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await redis?.close();
  await smtp?.close();
});

let prefixCount = 0;

/** A store, a fresh Slack server and a service on its own Redis prefix, so tests never share jobs. */
async function setup(options: { senders?: (slack: SlackApiServer) => NotificationSender[]; start?: boolean; log?: Logger } = {}) {
  slack = await startSlackApiServer({ token: TOKEN });
  cleanups.push(() => slack.close());
  const dir = mkdtempSync(join(testOutput, 'nq-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const store = await IncidentStore.open(dir);
  cleanups.push(() => store.close());
  const prefix = `t${process.pid}-${prefixCount++}`;
  const senders = options.senders?.(slack) ?? [new SlackSender({ target: 'oncall-slack', token: TOKEN, channel: 'C0123456', apiUrl: slack.apiUrl })];
  const newService = () => {
    const service = new NotificationService({
      connection: redisConnectionOptions(redis.url),
      store,
      senders,
      publicUrl: PUBLIC_URL,
      log: options.log ?? pino({ level: 'silent' }),
      backoff: BACKOFF,
      dispatchIntervalMs: 200,
      prefix,
    });
    cleanups.push(() => service.stop());
    return service;
  };
  const service = newService();
  if (options.start !== false) service.start();
  return { store, service, newService, dir };
}

/** Polls the incident until its notification for `target` satisfies `check`. */
async function waitForOutcome(store: IncidentStore, id: string, target: string, check: (n: NotificationOutcome) => boolean): Promise<NotificationOutcome> {
  return vi.waitFor(
    async () => {
      const outcome = (await store.get(id))?.notifications.find((n) => n.target === target);
      if (!outcome || !check(outcome)) throw new Error(`notification ${target} of ${id} does not match yet; now: ${JSON.stringify(outcome)}`);
      return outcome;
    },
    { timeout: 30_000, interval: 50 },
  );
}

/**
 * Until `target`'s queue holds nothing that could still send: no job waiting, delayed for a retry
 * or running, and `done` jobs finished. From then on the messages counted are all there will be.
 */
async function queueSettled(service: NotificationService, target: string, done: Partial<Record<'completed' | 'failed', number>> = { completed: 1 }): Promise<void> {
  await expect
    .poll(() => service.status().targets.find((t) => t.target === target), { timeout: 30_000 })
    .toMatchObject({ waiting: 0, delayed: 0, active: 0, ...done });
}

describe('NotificationService: delivery', () => {
  it('sends Slack (PNG + link + top functions) and email, records delivered, empties the outbox', async () => {
    const { store } = await setup({
      senders: (s) => [
        new SlackSender({ target: 'oncall-slack', token: TOKEN, channel: 'C0123456', apiUrl: s.apiUrl }),
        new EmailSender({ target: 'oncall-email', smtp: smtp.url, from: 'tail2@db-1', to: ['oncall@example.com'] }),
      ],
    });
    const mailsBefore = smtp.received.length;
    const record = await storeIncident(store, { notify: ['oncall-slack', 'oncall-email'] });
    const slackOutcome = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    const emailOutcome = await waitForOutcome(store, record.id, 'oncall-email', (n) => n.status === 'delivered');
    expect(slackOutcome).toMatchObject({ attempts: 1, delivered_at: expect.any(String) });
    expect(emailOutcome.attempts).toBe(1);

    const [message] = await slack.waitForMessages(1);
    // The incident names a process: the image is that process's flamegraph.
    const png = readFileSync(store.artifactPath(record.id, 'process.png')!);
    expect(message.channel).toBe('C0123456');
    expect(message.files).toHaveLength(1);
    expect(Buffer.compare(message.files[0].bytes, png)).toBe(0);
    const blocks = JSON.stringify(message.blocks);
    expect(blocks).toContain(`${PUBLIC_URL}/incidents/${record.id}`);
    expect(blocks).toContain('pg_extension_spin');
    expect(blocks).toContain('ExecScan');

    const mails = await smtp.waitForMail(mailsBefore + 1);
    const mail = mails[mails.length - 1];
    expect(mail.html).toContain(`${PUBLIC_URL}/incidents/${record.id}`);
    expect(mail.attachments.some((a) => Buffer.compare(a.content, png) === 0)).toBe(true);

    // incident.json is the truth and the index follows it once the rewrite is on disk: the
    // outbox (from the index) empties a moment after the file says delivered.
    await expect.poll(() => store.outbox(), { timeout: 10_000 }).toEqual([]);
    expect(store.list().incidents[0].notifications.map((n) => n.status)).toEqual(['delivered', 'delivered']);
  });

  it('retries Slack answering 500 twice, then delivers exactly one message', async () => {
    const { store, service } = await setup();
    slack.script('files.getUploadURLExternal', [{ status: 500 }, { status: 500 }]);
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    const retrying = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'retrying');
    expect(retrying.detail).toMatch(/500/);
    expect(Date.parse(retrying.next_attempt_at!)).toBeGreaterThan(Date.parse(retrying.updated_at!));
    const delivered = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    expect(delivered.attempts).toBe(3);
    await queueSettled(service, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
    expect(slack.calls.filter((c) => c.method === 'files.getUploadURLExternal').map((c) => c.status)).toEqual([500, 500, 200]);
  });

  it('waits as long as a 429 Retry-After asks, then delivers exactly one message', async () => {
    const { store, service } = await setup();
    slack.script('files.getUploadURLExternal', [{ status: 429, retryAfterS: 2 }]);
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    const limited = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'retrying');
    expect(limited.detail).toMatch(/rate|429/i);
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    const calls = slack.calls.filter((c) => c.method === 'files.getUploadURLExternal');
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    // Honoring Retry-After is a lower bound on the wait, which no machine's load can shorten.
    expect(calls[1].atMs - calls[0].atMs).toBeGreaterThanOrEqual(1900);
    await queueSettled(service, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
  });

  it('records a permanent refusal (invalid_auth) as failed after one attempt, without retrying', async () => {
    const { store, service } = await setup({ senders: (s) => [new SlackSender({ target: 'oncall-slack', token: 'xoxb-revoked', channel: 'C0123456', apiUrl: s.apiUrl })] });
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    const failed = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'failed');
    expect(failed.detail).toContain('invalid_auth');
    expect(failed.attempts).toBe(1);
    // The job failed for good: nothing is left in the queue to call Slack again.
    await queueSettled(service, 'oncall-slack', { completed: 0, failed: 1 });
    expect(slack.calls.length).toBe(1);
    expect(slack.messages).toHaveLength(0);
    expect(store.outbox()).toEqual([]);
  });

  it('fails a notification whose notifier is no longer configured, naming it', async () => {
    const { store } = await setup();
    const record = await storeIncident(store, { notify: ['oncall-slack', 'gone-notifier'] });
    const failed = await waitForOutcome(store, record.id, 'gone-notifier', (n) => n.status === 'failed');
    expect(failed.detail).toContain('gone-notifier');
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
  });
});

describe('NotificationService: outages', () => {
  it('keeps mail while SMTP is down and delivers it once SMTP is back', async () => {
    const { store, service } = await setup({ senders: () => [new EmailSender({ target: 'oncall-email', smtp: smtp.url, from: 'tail2@db-1', to: ['oncall@example.com'] })] });
    await smtp.stop();
    const mailsBefore = smtp.received.length;
    const record = await storeIncident(store, { notify: ['oncall-email'] });
    try {
      const retrying = await waitForOutcome(store, record.id, 'oncall-email', (n) => n.status === 'retrying' && (n.attempts ?? 0) >= 2);
      expect(retrying.detail).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      await smtp.start();
    }
    await waitForOutcome(store, record.id, 'oncall-email', (n) => n.status === 'delivered');
    await queueSettled(service, 'oncall-email');
    const mine = smtp.received.slice(mailsBefore).filter((m) => m.html && m.html.includes(record.id));
    expect(mine).toHaveLength(1);
  });

  it('keeps an incident stored while Redis is down in the outbox and delivers it once Redis is back', async () => {
    const { store, service } = await setup();
    await redis.stop();
    let record;
    try {
      record = await storeIncident(store, { notify: ['oncall-slack'] });
      service.dispatchSoon();
      await expect.poll(() => service.status().last_dispatch_error, { timeout: 20_000 }).toMatch(/outbox/);
      expect(store.outbox().map((o) => o.id)).toEqual([record.id]);
      expect(slack.messages).toHaveLength(0);
    } finally {
      await redis.start();
    }
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    await queueSettled(service, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
    expect(service.status().last_dispatch_error).toBeNull();
  });

  it('says Redis is not answering even when it froze in the middle of a pass, and delivers once it answers', async () => {
    const { store, service } = await setup();
    // One delivery first: the queue's connection is set up. Passes run every 200 ms, and each ends
    // reading the queue counts, which a frozen server leaves unanswered for as long as it is frozen.
    const first = await storeIncident(store, { notify: ['oncall-slack'] });
    service.dispatchSoon();
    await waitForOutcome(store, first.id, 'oncall-slack', (n) => n.status === 'delivered');
    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    let record;
    try {
      await sleep(500); // a pass is now waiting for its counts
      record = await storeIncident(store, { notify: ['oncall-slack'] });
      service.dispatchSoon();
      await expect.poll(() => service.status().last_dispatch_error, { timeout: 20_000 }).toMatch(/outbox/);
      expect(store.outbox().map((o) => o.id)).toEqual([record.id]);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    await expect.poll(() => service.status().last_dispatch_error, { timeout: 20_000 }).toBeNull();
  });

  it('retries while the incident cannot be read (not "gone"), then delivers it once it can', async () => {
    const lines: Array<{ msg: string; err?: { code?: string } }> = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const { store, service, dir } = await setup({ start: false, log });
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    // A directory where incident.json should be: reading it fails with EISDIR, as a bad disk
    // fails with EIO, and the store says so instead of "no such incident".
    const file = join(dir, 'incidents', record.id, 'incident.json');
    renameSync(file, `${file}.away`);
    mkdirSync(file);
    service.start();
    const readFailures = () => lines.filter((l) => l.msg === 'cannot read the incident to notify about; retrying later');
    await expect.poll(() => readFailures().length, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    expect(readFailures()[0].err?.code).toBe('EISDIR');
    expect(slack.messages).toHaveLength(0);
    expect(store.outbox().map((e) => e.id)).toEqual([record.id]);

    rmSync(file, { recursive: true });
    renameSync(`${file}.away`, file);
    const delivered = await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    // The failed reads sent nothing and are not counted as delivery attempts.
    expect(delivered.attempts).toBe(1);
    await queueSettled(service, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
    expect(store.outbox()).toEqual([]);
  });

  it('sends what a daemon stored but never queued (killed in between) when the next one starts', async () => {
    const { store, service } = await setup({ start: false });
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    // What the killed daemon left: the incident in the outbox, nothing in the queue.
    expect(store.outbox().map((o) => o.id)).toEqual([record.id]);
    expect(slack.messages).toHaveLength(0);
    service.start();
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    await queueSettled(service, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
  });

  it('does not send twice when a restarted daemon queues a notification already in Redis', async () => {
    const { store, service, newService } = await setup();
    // Slack fails the first attempts: the job sits in Redis, delayed, when the first service stops.
    slack.script('files.getUploadURLExternal', [{ status: 500 }, { status: 500 }]);
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'retrying');
    await service.stop();
    const next = newService();
    next.start();
    await waitForOutcome(store, record.id, 'oncall-slack', (n) => n.status === 'delivered');
    // One job, completed once: the second service's add of the same job id was a no-op.
    await queueSettled(next, 'oncall-slack');
    expect(slack.messages).toHaveLength(1);
  });
});

describe('NotificationService: shutdown', () => {
  it('stops while Redis is down, leaving the notification in the outbox', async () => {
    const { store, service } = await setup();
    await redis.stop();
    try {
      const record = await storeIncident(store, { notify: ['oncall-slack'] });
      service.dispatchSoon();
      await expect.poll(() => service.status().redis.reachable, { timeout: 20_000 }).toBe(false);
      // Resolves (bounded by the stop timeout) although no Redis command can complete.
      await service.stop();
      expect(store.outbox().map((o) => o.id)).toEqual([record.id]);
      expect(slack.messages).toHaveLength(0);
    } finally {
      await redis.start();
    }
  });
});

describe('NotificationService: graceful shutdown', () => {
  it('lets a delivery in progress finish before stopping', async () => {
    const { store, service } = await setup();
    slack.script('files.completeUploadExternal', [{ delayMs: 1500 }]);
    const record = await storeIncident(store, { notify: ['oncall-slack'] });
    await expect.poll(() => slack.calls.some((c) => c.method === 'upload'), { timeout: 20_000, interval: 20 }).toBe(true);
    // The upload is done and the post is held by Slack: stop now.
    await service.stop();
    expect(slack.messages).toHaveLength(1);
    expect((await store.get(record.id))?.notifications[0]).toMatchObject({ status: 'delivered', attempts: 1 });
  });
});
