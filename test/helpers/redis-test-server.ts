/**
 * A throwaway real redis-server for tests: TCP on 127.0.0.1 so a test can stop and start it on the
 * same port to simulate an outage, append-only persistence in a fresh folder so queued data survives
 * that outage as it would in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pingRedis } from '../../notifiers/redis/redis-connection.js';
import { freePort } from './daemon-process.js';
import { testOutput } from './fixtures.js';

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export interface RedisTestServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Its data folder (the AOF lives in `appendonlydir/`). */
  dir: string;
  /** The running server's pid; undefined while it is stopped. */
  readonly pid: number | undefined;
  /** Everything it printed, across restarts. */
  output(): string;
  /** SIGTERM (the AOF is flushed) and wait for the exit; the data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder; resolves once it answers PING (AOF loaded). */
  start(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** stop() and remove the folder. */
  close(): Promise<void>;
}

export interface RedisTestServerOptions {
  /** @defaultValue `'noeviction'` */
  maxmemoryPolicy?: string;
  /** More `--name value` arguments for redis-server, e.g. `['--rename-command', 'CONFIG', '']`. */
  extraArgs?: string[];
}

// Why: a test that fails before its afterAll (or a crashed worker) must not leave servers behind.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts a redis-server on a free 127.0.0.1 port and waits until it answers PING. */
export async function startRedisTestServer(options: RedisTestServerOptions = {}): Promise<RedisTestServer> {
  mkdirSync(testOutput, { recursive: true });
  const dir = mkdtempSync(join(testOutput, 'redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    '--maxmemory-policy', options.maxmemoryPolicy ?? 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const done = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const server: RedisTestServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    output: () => output,
    async start() {
      if (server.pid !== undefined) throw new Error('redis test server already running');
      const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      running.add(started);
      started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      exited = new Promise<void>((resolve) => {
        started.once('exit', () => resolve());
        started.once('error', () => resolve());
      }).then(() => void running.delete(started));
      const deadline = performance.now() + READY_TIMEOUT_MS;
      while (!(await pingRedis({ host: '127.0.0.1', port }, 500))) {
        if (server.pid === undefined || performance.now() > deadline) {
          await waitExit('SIGKILL');
          throw new Error(`redis test server on port ${port} did not answer PING:\n${output}`);
        }
        await sleep(50);
      }
    },
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
    async close() {
      await waitExit('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
