import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { IncidentStore } from '../daemon/store/incident-store.js';
import { loadDeliveryContent } from '../notifiers/delivery-content.js';
import { EmailSender } from '../notifiers/email-sender.js';
import { NotificationService } from '../notifiers/notification-service.js';
import { ManagedRedis } from '../notifiers/redis/managed-redis.js';
import { SlackSender } from '../notifiers/slack-sender.js';
import { storeIncident } from '../harness/fixture-incident.js';
import { startSlackApiServer } from '../harness/slack-api-server.js';
import { startSmtpTestServer } from '../harness/smtp-test-server.js';

export interface NotifyBenchResult {
  incidents: number;
  /** ms from the incident durable in the store to the message complete at each server, per incident. */
  slackMs: number[];
  emailMs: number[];
  /** The same messages sent directly by the senders, without queue, Redis or outbox: the baseline. */
  directSlackMs: number[];
  directEmailMs: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TOKEN = 'xoxb-bench';

/**
 * Incident stored → message received by a local Slack Web API server and a real SMTP server,
 * through the whole path tail2d uses: outbox in the index, dispatcher, BullMQ on tail2d's own
 * redis-server, workers, senders. Incidents are stored a little over a second apart, as the
 * per-notifier limit (one message a second) would otherwise be what is measured.
 */
export async function runNotifyBench(incidents = 10): Promise<NotifyBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tail2-notify-'));
  const slack = await startSlackApiServer({ token: TOKEN });
  const smtp = await startSmtpTestServer();
  const redis = new ManagedRedis({ stateDir: dir });
  const store = await IncidentStore.open(dir);
  const slackSender = new SlackSender({ target: 'oncall-slack', token: TOKEN, channel: 'C0123456', apiUrl: slack.apiUrl });
  const emailSender = new EmailSender({ target: 'oncall-email', smtp: smtp.url, from: 'tail2@bench', to: ['oncall@example.com'] });
  const result: NotifyBenchResult = { incidents, slackMs: [], emailMs: [], directSlackMs: [], directEmailMs: [] };
  let service: NotificationService | undefined;
  try {
    await redis.start();
    service = new NotificationService({
      connection: redis.connectionOptions(),
      store,
      senders: [slackSender, emailSender],
      publicUrl: 'http://127.0.0.1:8383',
      log: pino({ level: 'silent' }),
    });
    service.start();
    for (let i = 0; i < incidents; i++) {
      const slackBefore = slack.messages.length;
      const mailBefore = smtp.received.length;
      await storeIncident(store, { notify: ['oncall-slack', 'oncall-email'] });
      const storedAt = Date.now();
      service.dispatchSoon();
      const [slackMessage] = (await slack.waitForMessages(slackBefore + 1, 30_000)).slice(slackBefore);
      await smtp.waitForMail(mailBefore + 1, 30_000);
      result.slackMs.push(slackMessage.atMs - storedAt);
      result.emailMs.push(smtp.receivedAtMs[mailBefore] - storedAt);
      await sleep(1100);
    }
    // Baseline: the same incident's message through the senders alone.
    const record = await storeIncident(store, { notify: [] });
    const content = (await loadDeliveryContent(store, record.id, 'http://127.0.0.1:8383'))!;
    for (let i = 0; i < incidents; i++) {
      const slackBefore = slack.messages.length;
      const mailBefore = smtp.received.length;
      let start = Date.now();
      await slackSender.send(content);
      const [slackMessage] = (await slack.waitForMessages(slackBefore + 1, 30_000)).slice(slackBefore);
      result.directSlackMs.push(slackMessage.atMs - start);
      start = Date.now();
      await emailSender.send(content);
      await smtp.waitForMail(mailBefore + 1, 30_000);
      result.directEmailMs.push(smtp.receivedAtMs[mailBefore] - start);
    }
    return result;
  } finally {
    await service?.stop();
    store.close();
    await redis.stop();
    await slack.close();
    await smtp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
