import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NotificationQueueStatus } from '../../daemon/model/notifications-status.js';
import { testOutput } from '../helpers/fixtures.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';

const HARNESS = join(import.meta.dirname, '../../dist/harness/notification-liveness.js');

let redis: RedisTestServer;
let slack: SlackApiServer;
let child: ChildProcess | undefined;
let dir: string;

beforeAll(async () => {
  // A Redis that refuses INFO, as some managed services do: BullMQ's connection setup asks for
  // the server's version with it, so every connection's first setup fails, every time.
  redis = await startRedisTestServer({ extraArgs: ['--rename-command', 'INFO', ''] });
  slack = await startSlackApiServer({ token: 'xoxb-liveness' });
  dir = mkdtempSync(join(testOutput, 'liveness-'));
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

  // The service's own timers (the harness ticks every 100 ms) keep running across several failed
  // starts of its worker, two seconds apart: a worker left running on a failed connection would
  // spin on it and no tick would come again.
  await expect
    .poll(() => lines.filter((l) => /unknown command 'info'/i.test(l.status.redis.error ?? '')).length, { timeout: 30_000, interval: 100 })
    .toBeGreaterThanOrEqual(50);
  expect(lines.at(-1)!.status.redis.reachable).toBe(false);
  expect(stderr).toBe('');

  // Its SIGTERM handler runs (stop() → exit 0) only while the event loop turns.
  child.kill('SIGTERM');
  await expect.poll(() => exitCode, { timeout: 20_000 }).toBe(0);
});
