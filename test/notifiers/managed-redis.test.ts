import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Tail2Error } from '../../daemon/model/tail2-error.js';
import { ManagedRedis, ManagedRedisError, isAlive, redisServerArgs, type ManagedRedisLog } from '../../notifiers/redis/managed-redis.js';
import { checkEvictionPolicy, describeRedis, pingRedis, redisConnectionOptions } from '../../notifiers/redis/redis-connection.js';
import { testOutput } from '../helpers/fixtures.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';

// Every process and client a test starts is undone here, in reverse, even when the test failed.
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch {
      // Keep cleaning up the rest.
    }
  }
});

mkdirSync(testOutput, { recursive: true });
const base = mkdtempSync(join(testOutput, 'managed-redis-'));
cleanups.push(() => rmSync(base, { recursive: true, force: true }));

function client(options: RedisOptions | string): Redis {
  const redis = typeof options === 'string' ? new Redis(options, { maxRetriesPerRequest: 3 }) : new Redis({ maxRetriesPerRequest: 3, ...options });
  redis.on('error', () => {}); // Reconnect noise while a server restarts; commands still reject on failure.
  cleanups.push(() => redis.disconnect());
  return redis;
}

function managed(stateDir: string, redisServer?: string): { redis: ManagedRedis; lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (obj: object, msg: string) => void lines.push(`${level} ${msg} ${JSON.stringify(obj)}`);
  const log: ManagedRedisLog = { info: record('info'), warn: record('warn'), error: record('error') };
  const redis = new ManagedRedis({ stateDir, log, ...(redisServer ? { redisServer } : {}) });
  cleanups.push(() => redis.stop());
  return { redis, lines };
}

function killLater(pid: number): void {
  cleanups.push(() => isAlive(pid) && process.kill(pid, 'SIGKILL'));
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`still waiting for ${what}`);
    },
    { timeout: 10_000, interval: 50 },
  );
}

/** A redis-server started with `args` as our direct child. */
function spawnRedis(args: string[]): ChildProcess {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

async function configGet(redis: Redis, name: string): Promise<string | undefined> {
  const [, value] = (await redis.config('GET', name)) as string[];
  return value;
}

describe('ManagedRedis lifecycle', () => {
  const stateDir = join(base, 'a');
  const { redis: server, lines } = managed(stateDir);

  it('starts a private redis-server on a unix socket with AOF, noeviction and no TCP port', async () => {
    await server.start();
    expect(statSync(join(stateDir, 'redis')).mode & 0o777).toBe(0o700);
    expect(server.socketPath).toBe(join(stateDir, 'redis', 'redis.sock'));
    expect(server.url).toBe(server.socketPath);
    expect(redisConnectionOptions(server.url)).toEqual({ path: server.socketPath });

    const redis = client(server.connectionOptions());
    await redis.set('kept', 'across restarts');
    expect(await redis.get('kept')).toBe('across restarts');
    expect(await configGet(redis, 'appendonly')).toBe('yes');
    expect(await configGet(redis, 'appendfsync')).toBe('everysec');
    expect(await configGet(redis, 'save')).toBe('');
    expect(await configGet(redis, 'maxmemory-policy')).toBe('noeviction');
    expect(await configGet(redis, 'port')).toBe('0');
    expect(await configGet(redis, 'unixsocketperm')).toBe('700');
    expect(await checkEvictionPolicy(redis)).toEqual({ policy: 'noeviction', ok: true });

    const status = server.status();
    expect(status).toMatchObject({ managed: true, socket: server.socketPath, running: true, restarts: 0 });
    expect(status.pid).toBeGreaterThan(0);
    expect(status.last_exit).toBeUndefined();
    // The server's own pid, so the process we supervise is the one answering.
    expect(await redis.info('server')).toContain(`process_id:${status.pid}`);
  });

  it('restarts the server after it is SIGKILLed, with the data written before', { timeout: 15_000 }, async () => {
    const oldPid = server.status().pid as number;
    const exited = once(server, 'exit');
    const restarted = once(server, 'restart');
    process.kill(oldPid, 'SIGKILL');
    const [exit] = await exited;
    const exitedAt = Date.now();
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(server.status()).toMatchObject({ running: false, restart_at_ms: expect.any(Number) });
    // The backoff's first step, counted from the exit.
    expect(server.status().restart_at_ms).toBeGreaterThanOrEqual(exit.at_ms + 1000);
    const [{ pid }] = await restarted;
    expect(Date.now() - exitedAt).toBeGreaterThanOrEqual(1000);

    const status = server.status();
    expect(status).toMatchObject({ running: true, restarts: 1, pid, restart_at_ms: null });
    expect(pid).not.toBe(oldPid);
    expect(isAlive(oldPid)).toBe(false);
    expect(status.last_exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(status.last_exit?.output).toMatch(/ready to accept connections/i);
    expect(lines.some((line) => line.startsWith('error redis-server exited unexpectedly'))).toBe(true);
    // SIGKILL of the process loses nothing redis already wrote to the AOF (appendfsync only guards
    // against the machine going down).
    expect(await client(server.connectionOptions()).get('kept')).toBe('across restarts');
  });

  it('waits twice as long before the next restart when the server dies again soon', { timeout: 15_000 }, async () => {
    const exited = once(server, 'exit');
    const restarted = once(server, 'restart');
    process.kill(server.status().pid as number, 'SIGKILL');
    await exited;
    const exitedAt = Date.now();
    await restarted;
    expect(Date.now() - exitedAt).toBeGreaterThanOrEqual(2000);
    expect(server.status()).toMatchObject({ running: true, restarts: 2 });
    await expect(server.start()).rejects.toThrow('called twice');
  });

  it('stops the server on stop(): process gone, socket removed, data on disk', async () => {
    const pid = server.status().pid as number;
    await server.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(server.socketPath)).toBe(false);
    expect(server.status()).toMatchObject({ running: false, pid: null });
    expect(existsSync(join(stateDir, 'redis', 'appendonlydir'))).toBe(true);
    // No restart follows a requested stop: none is scheduled.
    expect(server.status().restart_at_ms).toBeNull();
  });

  it('starts again over the same folder with the data still there', async () => {
    const { redis: next } = managed(stateDir);
    await next.start();
    expect(await client(next.connectionOptions()).get('kept')).toBe('across restarts');
    await next.stop();
  });
});

describe('ManagedRedis start over what a previous daemon left', () => {
  it('shuts down a redis-server left running by a SIGKILLed daemon and runs its own', async () => {
    const stateDir = join(base, 'leftover');
    const dir = join(stateDir, 'redis');
    mkdirSync(dir, { recursive: true });
    // A "daemon" that started our exact server and is then SIGKILLed: its redis-server is orphaned.
    const daemon = spawn(
      process.execPath,
      ['-e', "const c = require('child_process').spawn('redis-server', JSON.parse(process.argv[1]), { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);", JSON.stringify(redisServerArgs(dir, join(dir, 'redis.sock')))],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => daemon.kill('SIGKILL'));
    const [firstLine] = (await once(daemon.stdout!, 'data')) as [Buffer];
    const leftoverPid = Number(firstLine.toString().trim());
    killLater(leftoverPid);
    const socket = join(dir, 'redis.sock');
    await waitUntil('the leftover server', () => pingRedis({ path: socket }));
    const before = client({ path: socket });
    await before.set('queued', 'job');
    before.disconnect();
    daemon.kill('SIGKILL');
    await once(daemon, 'exit');
    expect(isAlive(leftoverPid)).toBe(true);

    const { redis: server, lines } = managed(stateDir);
    await server.start();
    expect(isAlive(leftoverPid)).toBe(false);
    expect(server.status().pid).not.toBe(leftoverPid);
    expect(lines.some((line) => line.includes('left over from a previous tail2d'))).toBe(true);
    const after = client(server.connectionOptions());
    expect(await after.get('queued')).toBe('job');
    expect(await after.info('server')).toContain(`process_id:${server.status().pid}`);
    await server.stop();
  });

  it('removes a stale socket file of a crashed server', async () => {
    const stateDir = join(base, 'stale');
    const dir = join(stateDir, 'redis');
    mkdirSync(dir, { recursive: true });
    const socket = join(dir, 'redis.sock');
    const crashed = spawnRedis(redisServerArgs(dir, socket));
    await waitUntil('the crashing server', () => pingRedis({ path: socket }));
    crashed.kill('SIGKILL');
    await once(crashed, 'exit');
    expect(existsSync(socket)).toBe(true);
    expect(await pingRedis({ path: socket })).toBe(false);

    const { redis: server, lines } = managed(stateDir);
    await server.start();
    expect(server.status().running).toBe(true);
    expect(lines.some((line) => line.includes('stale Redis socket'))).toBe(true);
    await server.stop();
  });

  it('refuses to start, and leaves it alone, when a Redis of another folder holds the socket', async () => {
    const stateDir = join(base, 'foreign');
    const dir = join(stateDir, 'redis');
    const otherDir = join(base, 'foreign-other');
    mkdirSync(dir, { recursive: true });
    mkdirSync(otherDir, { recursive: true });
    const socket = join(dir, 'redis.sock');
    spawnRedis(redisServerArgs(otherDir, socket));
    await waitUntil('the foreign server', () => pingRedis({ path: socket }));

    const { redis: server } = managed(stateDir);
    const error = await server.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManagedRedisError);
    expect(error).toMatchObject({ code: 'REDIS_SOCKET_IN_USE' });
    expect((error as Error).message).toContain(otherDir);
    expect(await pingRedis({ path: socket })).toBe(true);
  });
});

describe('ManagedRedis errors', () => {
  it('rejects a state_dir whose socket path is longer than 107 bytes', () => {
    const suffix = '/redis/redis.sock';
    const fits = join(base, 'x'.repeat(107 - suffix.length - base.length - 1));
    expect(Buffer.byteLength(join(fits, suffix))).toBe(107);
    expect(() => new ManagedRedis({ stateDir: fits })).not.toThrow();

    const tooLong = `${fits}y`;
    let error: unknown;
    try {
      new ManagedRedis({ stateDir: tooLong });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ManagedRedisError);
    expect(error).toMatchObject({ code: 'REDIS_SOCKET_PATH_TOO_LONG' });
    expect((error as Error).message).toContain(join(tooLong, suffix));
    expect((error as Error).message).toContain('108 bytes');
    expect((error as Error).message).toContain('shorter state_dir');
  });

  it('says how to install redis-server when the binary is missing', async () => {
    const { redis: server } = managed(join(base, 'missing'), '/nonexistent/redis-server');
    const error = await server.start().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REDIS_NOT_FOUND' });
    expect((error as Error).message).toBe(
      "redis-server not found (tried /nonexistent/redis-server): install Debian's redis-server (npm start installs it) or set redis.url",
    );
    expect(server.status()).toMatchObject({ running: false, pid: null, restarts: 0 });
  });

  it('reports the last output of a server that exits during start', async () => {
    const fake = join(base, 'fake-redis-server');
    writeFileSync(fake, '#!/bin/sh\necho "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"\necho "Bad directive or wrong number of arguments"\nexit 1\n');
    chmodSync(fake, 0o755);
    const { redis: server } = managed(join(base, 'failing'), fake);
    const error = await server.start().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REDIS_START_FAILED' });
    expect((error as Error).message).toContain('exited during start (code 1)');
    expect((error as Error).message).toContain('Bad directive or wrong number of arguments');
  });
});

describe('checkEvictionPolicy', () => {
  const servers: RedisTestServer[] = [];
  let lru: RedisTestServer;
  let noConfig: RedisTestServer;
  let noConfigNoInfo: RedisTestServer;
  beforeAll(async () => {
    cleanups.push(() => Promise.all(servers.map((s) => s.close())));
    lru = await startRedisTestServer({ maxmemoryPolicy: 'allkeys-lru' });
    servers.push(lru);
    noConfig = await startRedisTestServer({ maxmemoryPolicy: 'volatile-ttl', extraArgs: ['--rename-command', 'CONFIG', ''] });
    servers.push(noConfig);
    noConfigNoInfo = await startRedisTestServer({ extraArgs: ['--rename-command', 'CONFIG', '', '--rename-command', 'INFO', ''] });
    servers.push(noConfigNoInfo);
  });

  it('names a wrong policy and how to fix it', async () => {
    expect(await checkEvictionPolicy(client(lru.url))).toEqual({
      policy: 'allkeys-lru',
      ok: false,
      problem:
        'Redis maxmemory-policy is allkeys-lru; BullMQ needs noeviction or queued notifications can be evicted: run CONFIG SET maxmemory-policy noeviction (and persist it in redis.conf)',
    });
  });

  it('falls back to INFO memory when CONFIG is forbidden', async () => {
    const result = await checkEvictionPolicy(client(noConfig.url));
    expect(result).toMatchObject({ policy: 'volatile-ttl', ok: false });
    expect(result.problem).toContain('volatile-ttl');
  });

  it('says it cannot read the policy when neither CONFIG nor INFO is allowed', async () => {
    const result = await checkEvictionPolicy(client(noConfigNoInfo.url));
    expect(result.policy).toBeNull();
    expect(result.ok).toBe(false);
    expect(result.problem).toMatch(/^cannot read maxmemory-policy: CONFIG GET failed \(.*unknown command.*\) and INFO memory failed/);
  });
});

describe('redisTestServer', () => {
  it('keeps its data across stop/start and a crash on the same port', async () => {
    const server = await startRedisTestServer();
    cleanups.push(() => server.close());
    const redis = client({ port: server.port, host: '127.0.0.1', retryStrategy: () => 50 });
    await redis.set('k', 'v');
    await server.stop();
    expect(server.pid).toBeUndefined();
    expect(await pingRedis({ host: '127.0.0.1', port: server.port })).toBe(false);
    await server.start();
    expect(await redis.get('k')).toBe('v');
    await redis.set('k2', 'v2');
    await server.kill();
    await server.start();
    expect(await redis.get('k2')).toBe('v2');
  });
});

describe('redisConnectionOptions', () => {
  it.each([
    ['redis://localhost', { host: 'localhost', port: 6379 }],
    ['redis://user:p%40ss@redis.example:6380/2', { host: 'redis.example', port: 6380, username: 'user', password: 'p@ss', db: 2 }],
    ['redis://:secret@10.0.0.1:6379', { host: '10.0.0.1', port: 6379, password: 'secret' }],
    ['redis://[::1]:7000/0', { host: '::1', port: 7000, db: 0 }],
    ['rediss://cache.example:6380', { host: 'cache.example', port: 6380, tls: {} }],
    ['unix:///run/redis/redis.sock', { path: '/run/redis/redis.sock' }],
    ['redis+unix:///run/redis/redis.sock?db=3&password=s%26cret', { path: '/run/redis/redis.sock', db: 3, password: 's&cret' }],
    ['/run/redis/redis.sock', { path: '/run/redis/redis.sock' }],
  ])('parses %s', (url, expected) => {
    expect(redisConnectionOptions(url)).toEqual(expected);
  });

  it.each([
    ['http://localhost:6379', 'unsupported scheme http:'],
    ['redis://localhost/zero', 'database "zero" is not a number'],
    ['redis://:topsecret@localhost/zero', 'database "zero" is not a number'],
    ['unix://relative/redis.sock', 'absolute path'],
    ['localhost:6379', 'unsupported scheme localhost:'],
    ['not a url', 'not a URL'],
  ])('rejects %s', (url, why) => {
    let error: unknown;
    try {
      redisConnectionOptions(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Tail2Error);
    expect(error).toMatchObject({ code: 'TAIL2_CONFIG' });
    expect((error as Error).message).toContain(why);
    expect((error as Error).message).not.toContain('topsecret');
  });
});

describe('describeRedis', () => {
  it.each([
    ['redis://user:topsecret@redis.example:6379/1', 'redis://user:***@redis.example:6379/1'],
    ['redis://:topsecret@redis.example', 'redis://:***@redis.example'],
    ['rediss://redis.example:6380', 'rediss://redis.example:6380'],
    ['unix:///run/redis.sock?db=1&password=topsecret', 'unix:///run/redis.sock?db=1&password=***'],
    ['/run/redis.sock', '/run/redis.sock'],
    ['not a url topsecret', '(unparseable redis url)'],
  ])('shows %s as %s', (url, shown) => {
    expect(describeRedis(url)).toBe(shown);
  });
});
