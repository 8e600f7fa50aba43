import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NotificationQueueStatus } from '../../daemon/model/notifications-status.js';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { testOutput } from '../helpers/fixtures.js';
import { storeIncident } from '../helpers/stored-incident.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';

const HARNESS = join(import.meta.dirname, '../../dist/harness/notification-liveness.js');

let redis: RedisTestServer;
let slack: SlackApiServer;
let child: ChildProcess | undefined;
let dir: string;

beforeAll(async () => {
  // A Redis whose ACL refuses INFO, as some managed services do: BullMQ's connection setup asks
  // for the server's version with it, so every connection's first setup fails, every time.
  // (Renaming INFO away would not do: ioredis's own ready check would fail first and leave the
  // setup pending, never failed.)
  redis = await startRedisTestServer({ extraArgs: ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-info'] });
  slack = await startSlackApiServer({ token: 'xoxb-liveness' });
  dir = mkdtempSync(join(testOutput, 'liveness-'));
  // One incident waiting in the outbox: the queue's adds fail too, and the broken queue is replaced.
  const store = await IncidentStore.open(dir);
  await storeIncident(store, { notify: ['oncall-slack'] });
  store.close();
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await redis?.close();
  await slack?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps the event loop turning when Redis fails every connection setup (INFO refused), says so, and stops on SIGTERM', async () => {
  child = spawn(process.execPath, [HARNESS, redis.url, dir, slack.apiUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: Array<{ tick: number; status: NotificationQueueStatus }> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line)));
  let exitCode: number | string | null | undefined;
  child.once('exit', (code, signal) => (exitCode = code ?? signal ?? null));

  // The service's own timers (the harness ticks every 100 ms) keep running across failed starts
  // of its worker (2 s, then 4 s apart): a worker left running on a failed connection spins on it
  // and not one tick comes.
  const refused = () => lines.filter((l) => !l.status.redis.reachable && /info/i.test(l.status.redis.error ?? ''));
  await expect.poll(() => refused().length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(50);
  const last = lines.at(-1)!.status;
  expect(last.redis.reachable).toBe(false);
  // The incident waits in the outbox, saying why.
  expect(last.outbox).toBe(1);
  expect(last.last_dispatch_error).toMatch(/outbox/);
  // ioredis warns on stderr about the refused command; the harness itself did not fail.
  expect(stderr).not.toMatch(/notification-liveness:/);

  // Its SIGTERM handler runs (stop() → exit 0) only while the event loop turns.
  child.kill('SIGTERM');
  await expect.poll(() => exitCode, { timeout: 20_000 }).toBe(0);
});
