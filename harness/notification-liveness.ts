/**
 * A NotificationService in a process of its own that says, every 100 ms, that its event loop is
 * still turning: one JSON line of `service.status()` on stdout. A test watches the lines from
 * outside, where a service that stopped the event loop (a spinning Redis client) cannot stop the
 * watcher too.
 *
 * Usage: node dist/harness/notification-liveness.js REDIS_URL STATE_DIR SLACK_API_URL
 */
import { pino } from 'pino';
import { IncidentStore } from '../daemon/store/incident-store.js';
import { NotificationService } from '../notifiers/notification-service.js';
import { redisConnectionOptions } from '../notifiers/redis/redis-connection.js';
import { SlackSender } from '../notifiers/slack-sender.js';

const TICK_MS = 100;

async function main(): Promise<void> {
  const [redisUrl, stateDir, slackApiUrl] = process.argv.slice(2);
  if (!redisUrl || !stateDir || !slackApiUrl) throw new Error('usage: notification-liveness.js REDIS_URL STATE_DIR SLACK_API_URL');
  const store = await IncidentStore.open(stateDir);
  const service = new NotificationService({
    connection: redisConnectionOptions(redisUrl),
    store,
    senders: [new SlackSender({ target: 'oncall-slack', token: 'xoxb-liveness', channel: 'C0123456', apiUrl: slackApiUrl })],
    publicUrl: 'https://tail2.example.net',
    log: pino({ level: 'silent' }),
    dispatchIntervalMs: 200,
    prefix: `liveness-${process.pid}`,
  });
  service.start();
  let tick = 0;
  const timer = setInterval(() => process.stdout.write(JSON.stringify({ tick: tick++, status: service.status() }) + '\n'), TICK_MS);
  process.once('SIGTERM', () => {
    clearInterval(timer);
    void service
      .stop()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`notification-liveness: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
