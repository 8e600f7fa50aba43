import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import type { NotificationsStatus } from '../../daemon/model/notifications-status.js';
import { readPngText } from '../../daemon/formats/png-text.js';
import { isAlive } from '../../notifiers/redis/managed-redis.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture } from '../helpers/fixtures.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';
import { startSmtpTestServer, type SmtpTestServer } from '../helpers/smtp-test-server.js';

// tail2d with notifiers: a rule fires on a real CPU burner, the incident goes out to a local
// server speaking Slack's Web API and to a real SMTP server, through BullMQ on Redis.

const TOKEN = 'xoxb-e2e-token';
const WEB = 'public_url: "https://tail2.example.net/"';
const running: RunningDaemon[] = [];
const children: ChildProcess[] = [];
let slack: SlackApiServer;
let smtp: SmtpTestServer;

/** GET /api/status's notifications: this file's daemons all configure notifiers. */
async function queueOf(d: RunningDaemon): Promise<NotificationsStatus> {
  const { notifications } = await d.status();
  if ('enabled' in notifications) throw new Error(`notifications are off: ${notifications.reason}`);
  return notifications;
}

const RULES = [
  'rules:',
  '  - name: burner-spin',
  '    metric: cpu',
  '    scope: { process: "^burner$" }',
  '    above: 80%',
  '    for: 2s',
  '    capture: { before: 10s, after: 1s }',
  '    cooldown: 1h',
  '    notify: [oncall-slack, oncall-email]',
].join('\n');

function notifierConfig(): string {
  return [
    'notifiers:',
    `  oncall-slack: { type: slack, token: "\${TAIL2_TEST_SLACK_TOKEN}", channel: C0123456, api_url: "${slack.apiUrl}" }`,
    `  oncall-email: { type: email, smtp: "${smtp.url}", from: "tail2@test", to: [oncall@example.com] }`,
  ].join('\n');
}

beforeAll(async () => {
  process.env.TAIL2_TEST_SLACK_TOKEN = TOKEN;
  slack = await startSlackApiServer({ token: TOKEN });
  smtp = await startSmtpTestServer();
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const d of running) await d.stop('SIGKILL');
  await slack?.close();
  await smtp?.close();
});

/** At nice -10, so the other work on this shared VM cannot starve it below its rule's threshold. */
function burner(): ChildProcess {
  const child = spawn('nice', ['-n', '-10', buildCFixture('burner'), '0'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/**
 * A busy process the rules do not watch: its work_NN functions must stay out of the burner's
 * picture. At nice 19 it takes what the burner leaves, so the burner still crosses its threshold.
 */
function mixer(): ChildProcess {
  const child = spawn('nice', ['-n', '19', buildCFixture('mixer'), '600'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

const firstIncident = (d: RunningDaemon) => d.waitFor('an incident', async () => (await d.get<{ incidents: Array<{ id: string }> }>('/api/incidents')).incidents[0]);

const notificationsOf = async (d: RunningDaemon, id: string) => (await d.get<IncidentRecord>(`/api/incidents/${id}`)).notifications;

describe('tail2d notifications', () => {
  it('posts the incident to Slack and by email through its own Redis, and stops that Redis on SIGTERM', async () => {
    const slackBefore = slack.messages.length;
    const mailBefore = smtp.received.length;
    const d = await startDaemon('notify-e2e', RULES, notifierConfig(), { web: WEB });
    running.push(d);
    const spin = burner();
    const busy = mixer();
    try {
      const { id } = await firstIncident(d);
      const delivered = await d.waitFor('both notifications delivered', async () => {
        const outcomes = await notificationsOf(d, id);
        return outcomes.every((n) => n.status === 'delivered') ? outcomes : undefined;
      });
      expect(delivered.map((n) => n.target).sort()).toEqual(['oncall-email', 'oncall-slack']);
    } finally {
      spin.kill('SIGKILL');
      busy.kill('SIGKILL');
    }
    const { id } = await firstIncident(d);
    // The image is the flamegraph of what fired: the burner's samples alone, not the busy mixer's.
    const png = await d.incidentFile(id, 'process.png');
    const messages = slack.messages.slice(slackBefore);
    expect(messages).toHaveLength(1);
    expect(Buffer.compare(messages[0].files[0].bytes, png)).toBe(0);
    const shown = readPngText(messages[0].files[0].bytes);
    expect(shown.get('Title')).toMatch(new RegExp(`^burner-spin on .* · burner \\(pid ${spin.pid}\\)$`));
    expect(shown.get('Description')).toMatch(new RegExp(`^Flamegraph of burner \\(pid ${spin.pid}\\): [\\d,]+ samples\\. Hottest functions \\(self\\): leaf_spin `));
    expect(shown.get('Description')).not.toContain('work_');
    // The host-wide flamegraph, a click away on the incident page, has the mixer too.
    const hostWide = (await d.incidentFile(id, 'flamegraph.svg')).toString('utf8');
    expect(hostWide).toMatch(/<title>work_\d+ \(/);
    expect(readPngText(await d.incidentFile(id, 'flamegraph.png')).get('Title')).toMatch(/ — CPUs \d+% idle$/);
    const page = await (await fetch(`${d.baseUrl}/incidents/${id}`)).text();
    expect(page).toContain(`/api/incidents/${id}/flamegraph.png`);
    expect(page).toContain(`/api/incidents/${id}/process.png`);
    const blocks = JSON.stringify(messages[0].blocks);
    expect(blocks).toContain(`https://tail2.example.net/incidents/${id}`);
    expect(blocks).toContain('leaf_spin');
    expect(blocks).not.toContain('work_');
    expect(blocks).toContain('burner');
    expect(blocks).toMatch(/Host CPUs\*\\nCPUs \d+% idle/);

    const mail = (await smtp.waitForMail(mailBefore + 1))[mailBefore];
    const cid = /src="cid:([^"]+)"/.exec(String(mail.html))?.[1];
    expect(cid).toBeDefined();
    const image = mail.attachments.find((a) => a.cid === cid);
    expect(image && Buffer.compare(image.content, png)).toBe(0);
    expect(mail.text).toContain(`https://tail2.example.net/incidents/${id}`);

    // Its own redis-server: on a unix socket in the state folder, noeviction, stopped with the daemon.
    const queue = await queueOf(d);
    expect(queue.redis.managed).toMatchObject({ running: true });
    expect(queue.redis.maxmemory_policy).toBe('noeviction');
    const redisPid = queue.redis.managed!.pid!;
    expect(existsSync(join(d.dir, 'state', 'redis', 'redis.sock'))).toBe(true);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(existsSync(`/proc/${redisPid}`)).toBe(false);
  });

  it('takes its own redis-server down with it when SIGKILLed (PR_SET_PDEATHSIG), and the next start runs a fresh one', async () => {
    const d = await startDaemon('notify-sigkill', 'rules: []\n', notifierConfig(), { web: WEB });
    running.push(d);
    const redisPid = await d.waitFor('its redis-server', async () => (await queueOf(d)).redis.managed?.pid ?? undefined);
    expect(readFileSync(`/proc/${redisPid}/comm`, 'utf8').trim()).toBe('redis-server');
    // No exit hook runs on SIGKILL: only the kernel can take the server down now.
    expect(await d.stop('SIGKILL')).toBeNull();
    await expect.poll(() => isAlive(redisPid), { timeout: 10_000 }).toBe(false);

    const again = await startDaemon('notify-sigkill', 'rules: []\n', notifierConfig(), { web: WEB, keepState: true });
    running.push(again);
    const queue = await again.waitFor('a reachable redis-server', async () => {
      const q = await queueOf(again);
      return q.redis.reachable && q.redis.managed?.pid ? q : undefined;
    });
    expect(queue.redis.managed!.pid).not.toBe(redisPid);
    // Nothing was left over to shut down.
    expect(again.log()).not.toContain('left over from a previous tail2d');
    expect(await again.stop('SIGTERM')).toBe(0);
  });

  it('sends an incident stored while Redis was down after a kill and restart, exactly once', async () => {
    const redis: RedisTestServer = await startRedisTestServer();
    await redis.stop();
    const config = `${notifierConfig()}\nredis: { url: "${redis.url}" }`;
    const slackBefore = slack.messages.length;
    const first = await startDaemon('notify-restart', RULES, config, { web: WEB });
    running.push(first);
    const spin = burner();
    let id: string;
    try {
      ({ id } = await firstIncident(first));
      // Stored with its notifications pending: the outbox holds them while Redis is away.
      const queue = await first.waitFor('the outbox to hold the incident', async () => {
        const q = await queueOf(first);
        return q.outbox === 2 ? q : undefined;
      });
      expect(queue.redis.reachable).toBe(false);
      expect((await notificationsOf(first, id)).map((n) => n.status)).toEqual(['pending', 'pending']);
    } finally {
      spin.kill('SIGKILL');
    }
    // Killed between storing and queuing; Redis comes back; the next daemon sends.
    await first.stop('SIGKILL');
    try {
      await redis.start();
      const second = await startDaemon('notify-restart', RULES, config, { keepState: true, web: WEB });
      running.push(second);
      await second.waitFor('both notifications delivered', async () => {
        const outcomes = await notificationsOf(second, id);
        return outcomes.every((n) => n.status === 'delivered') ? outcomes : undefined;
      });
      // Nothing left that could send again: no open notification, no job waiting, retrying or
      // running, one job done per notifier (the next daemon's re-add of the same job was a no-op).
      await second.waitFor('the queues to settle', async () => {
        const q = await queueOf(second);
        return q.outbox === 0 && q.targets.every((t) => t.waiting + t.delayed + t.active === 0 && t.completed === 1) ? q : undefined;
      });
      expect(slack.messages.slice(slackBefore).filter((m) => JSON.stringify(m.blocks).includes(id))).toHaveLength(1);
      expect(smtp.received.filter((m) => String(m.html).includes(id))).toHaveLength(1);
      expect(await second.stop('SIGTERM')).toBe(0);
    } finally {
      await redis.close();
    }
  });
});
