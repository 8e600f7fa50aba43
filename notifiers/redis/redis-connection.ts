/**
 * How tail2 talks to a Redis it is given: `redis.url` → ioredis options, the same URL with its
 * password hidden for logs and /status, the check that the server will not evict BullMQ's keys, and
 * a PING probe that needs no client.
 */
import { connect, type NetConnectOpts } from 'node:net';
import type { Redis, RedisOptions } from 'ioredis';
import { Tail2Error } from '../../daemon/model/tail2-error.js';

const DEFAULT_PORT = 6379;

/**
 * The connection part of ioredis' options: assignable both to ioredis' `RedisOptions` and to BullMQ's
 * own `RedisOptions` (`connection:`), which the full ioredis 6 type is not (its `retryStrategy` may be null).
 */
export type RedisConnectionOptions = Pick<RedisOptions, 'host' | 'port' | 'path' | 'username' | 'password' | 'db' | 'tls'>;
const REDACTED = '***';
const ACCEPTED = 'redis://[user:password@]host[:port][/db], rediss://… (TLS), unix:///path/to/redis.sock[?db=N&password=…] (also redis+unix://), or an absolute socket path';

/**
 * ioredis options for a Redis URL. Accepted forms:
 * - `redis://[user:password@]host[:port][/db]`, port 6379 by default, db 0 by default;
 *   user and password are percent-decoded (`%40` for `@`);
 * - `rediss://…`, the same over TLS (`tls: {}`: Node's CA store, SNI from the host name);
 * - `unix:///path/to/redis.sock` or `redis+unix:///path/to/redis.sock`, with `db`, `username` and
 *   `password` as query parameters (redis-py's form, since a socket URL has no authority part);
 * - an absolute socket path `/path/to/redis.sock`, taken literally (what ioredis itself accepts,
 *   and what `ManagedRedis.url` returns).
 *
 * Query parameters of TCP URLs are ignored, unlike ioredis, whose `?tls=…`-style options would
 * otherwise arrive here unvalidated.
 *
 * @throws Tail2Error `TAIL2_CONFIG` naming the (redacted) URL and the accepted forms.
 */
export function redisConnectionOptions(url: string): RedisConnectionOptions {
  // Why not through URL: a bare path is taken literally, `%` and `?` included.
  if (url.startsWith('/')) return { path: url };
  const parsed = parse(url);
  switch (parsed.protocol) {
    case 'redis:':
    case 'rediss:':
      return tcpOptions(parsed, url);
    case 'unix:':
    case 'redis+unix:':
      return unixOptions(parsed, url);
    default:
      throw invalid(url, `unsupported scheme ${parsed.protocol}`);
  }
}

/** The URL as it may be logged or shown on /status: any password replaced by `***`. */
export function describeRedis(url: string): string {
  if (url.startsWith('/')) return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Why not echo it: an unparseable URL may still carry a password.
    return '(unparseable redis url)';
  }
  if (parsed.password) parsed.password = REDACTED;
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', REDACTED);
  return parsed.toString();
}

/** What {@link checkEvictionPolicy} found. */
export interface EvictionPolicyCheck {
  /** `maxmemory-policy` as the server reports it; null when it could not be read. */
  policy: string | null;
  /** True only for `noeviction`. */
  ok: boolean;
  /** One sentence saying what is wrong and what to do; absent when ok. */
  problem?: string;
}

/**
 * Checks that the server never evicts keys: under any other `maxmemory-policy` Redis may drop BullMQ's
 * job keys when memory runs short, and queued notifications vanish without an error. Reads
 * `CONFIG GET maxmemory-policy`, falling back to `INFO memory` for managed services that forbid CONFIG.
 */
export async function checkEvictionPolicy(client: Redis): Promise<EvictionPolicyCheck> {
  let policy: string | null;
  try {
    policy = configValue(await client.config('GET', 'maxmemory-policy'), 'maxmemory-policy');
    // An empty reply (CONFIG filtered by a proxy) says nothing: ask INFO instead.
    policy ??= await infoPolicy(client);
  } catch (configError) {
    try {
      policy = await infoPolicy(client);
    } catch (infoError) {
      return { policy: null, ok: false, problem: `cannot read maxmemory-policy: CONFIG GET failed (${message(configError)}) and INFO memory failed (${message(infoError)})` };
    }
  }
  if (policy === null) {
    return { policy: null, ok: false, problem: 'cannot read maxmemory-policy: neither CONFIG GET nor INFO memory reports it' };
  }
  if (policy === 'noeviction') return { policy, ok: true };
  return {
    policy,
    ok: false,
    problem: `Redis maxmemory-policy is ${policy}; BullMQ needs noeviction or queued notifications can be evicted: run CONFIG SET maxmemory-policy noeviction (and persist it in redis.conf)`,
  };
}

/**
 * Resolves true when a Redis server at `target` answers PING with PONG within `timeoutMs`; false when
 * nothing listens, the connection fails, or the server answers anything else (-LOADING while it
 * replays its AOF, -NOAUTH). Uses a bare socket so that probing a server that is not up yet
 * leaves no reconnecting client behind.
 */
export function pingRedis(target: NetConnectOpts, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target);
    let reply = '';
    let done = false;
    const finish = (answered: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw invalid(url, 'not a URL');
  }
}

function tcpOptions(parsed: URL, url: string): RedisConnectionOptions {
  // WHATWG URL keeps IPv6 brackets in hostname; net.connect wants the bare address.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw invalid(url, 'no host');
  const options: RedisConnectionOptions = { host, port: parsed.port ? Number(parsed.port) : DEFAULT_PORT };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace(/^\//, '');
  if (db) options.db = parseDb(db, url);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

function unixOptions(parsed: URL, url: string): RedisConnectionOptions {
  // `unix://relative/x.sock` would put "relative" in the host: only absolute paths are meant.
  if (parsed.host) throw invalid(url, 'a socket URL needs an absolute path: unix:///path/to/redis.sock');
  const path = decodeURIComponent(parsed.pathname);
  if (path === '' || path === '/') throw invalid(url, 'no socket path');
  const options: RedisConnectionOptions = { path };
  const query = parsed.searchParams;
  const db = query.get('db');
  if (db !== null) options.db = parseDb(db, url);
  const username = query.get('username');
  if (username) options.username = username;
  const password = query.get('password');
  if (password) options.password = password;
  return options;
}

function parseDb(text: string, url: string): number {
  if (!/^\d+$/.test(text)) throw invalid(url, `database "${text}" is not a number`);
  return Number(text);
}

function invalid(url: string, why: string): Tail2Error {
  return new Tail2Error('TAIL2_CONFIG', `redis.url ${describeRedis(url)} is not usable: ${why}.`, `Use ${ACCEPTED}.`);
}

/** CONFIG GET answers a flat [name, value] array (RESP2, or RESP3 with ioredis' legacy mapping) or a map. */
function configValue(reply: unknown, name: string): string | null {
  if (Array.isArray(reply)) {
    const at = reply.findIndex((item) => String(item).toLowerCase() === name);
    return at >= 0 && at + 1 < reply.length ? String(reply[at + 1]) : null;
  }
  if (reply instanceof Map) return reply.has(name) ? String(reply.get(name)) : null;
  if (reply !== null && typeof reply === 'object' && name in reply) return String((reply as Record<string, unknown>)[name]);
  return null;
}

async function infoPolicy(client: Redis): Promise<string | null> {
  const info = await client.info('memory');
  const line = info.split(/\r?\n/).find((l) => l.startsWith('maxmemory_policy:'));
  return line ? line.slice('maxmemory_policy:'.length).trim() : null;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
