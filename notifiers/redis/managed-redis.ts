/**
 * The redis-server tail2d runs for itself when tail2.yaml sets no `redis.url`: one child process on
 * a unix socket under `<state_dir>/redis/` (no TCP port), append-only persistence so queued
 * notifications survive daemon and server restarts, supervised (restarted with backoff when it dies)
 * and stopped with the daemon.
 *
 * Dying with tail2d: the server is started through util-linux's `setpriv --pdeathsig SIGKILL`,
 * which asks Linux (prctl PR_SET_PDEATHSIG) to kill it when tail2d dies, even by SIGKILL or a
 * crash, where no exit hook of ours runs. Node cannot make that call itself. See {@link launch} for
 * why the signal cannot fire early. Without setpriv on PATH the server is started directly (a
 * warning says so), and a leftover is handled at the next start as below.
 *
 * A leftover server (no setpriv, or tail2d died between the fork and setpriv's prctl) keeps
 * running, unsupervised, holding our socket and writing our AOF. `start()` finds it by PING on the socket, and when
 * `CONFIG GET dir` says it serves our directory it is shut down (SHUTDOWN NOSAVE: the AOF is still
 * flushed, only the RDB snapshot is skipped) and our own child started in its place, so there is
 * always exactly one server, and it is supervised. A server on our socket that serves another
 * directory is someone else's: start() refuses instead of stopping it. Reusing a leftover instead
 * was rejected: we could neither restart it when it dies nor see its output.
 *
 * This matters doubly because redis-server unlinks an existing socket file before binding: a second
 * server would silently take the socket from a live first one, and both would append to one AOF.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pingRedis, type RedisConnectionOptions } from './redis-connection.js';
import { Tail2Error } from '../../daemon/model/tail2-error.js';
import type { ManagedRedisStatus, RedisExit } from '../../daemon/model/notifications-status.js';

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const OUTPUT_LINES = 50;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const LEFTOVER_EXIT_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** A server that stayed up this long is healthy again: the next crash restarts after BACKOFF_FIRST_MS. */
const STABLE_AFTER_MS = 60_000;

/** A pino-like logger; pino's `Logger` fits. */
export interface ManagedRedisLog {
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ManagedRedisOptions {
  /** tail2's state_dir; the server lives in `<stateDir>/redis/`. Relative paths resolve against the cwd. */
  stateDir: string;
  /** The redis-server binary. @defaultValue `'redis-server'` (looked up on PATH) */
  redisServer?: string;
  log?: ManagedRedisLog;
}


/**
 * Events: `exit` (the server died without being asked to; a restart is scheduled) and `restart`
 * (a restarted server answers PING). Neither needs a listener: both are also logged.
 */
export interface ManagedRedisEvents {
  exit: [RedisExit];
  restart: [{ pid: number; restarts: number }];
}

export type ManagedRedisErrorCode =
  /** `<state_dir>/redis/redis.sock` is longer than a unix socket path may be. */
  | 'REDIS_SOCKET_PATH_TOO_LONG'
  /** The redis-server binary does not exist. */
  | 'REDIS_NOT_FOUND'
  /** redis-server exited, or could not be run, before it answered PING. */
  | 'REDIS_START_FAILED'
  /** redis-server runs but did not answer PING in time. */
  | 'REDIS_START_TIMEOUT'
  /** Another Redis, serving another directory, holds our socket. */
  | 'REDIS_SOCKET_IN_USE';

export class ManagedRedisError extends Tail2Error<ManagedRedisErrorCode> {
  override name = 'ManagedRedisError';

  constructor(code: ManagedRedisErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

/** The command line of our server: everything is configured here, no redis.conf. */
export function redisServerArgs(dir: string, socketPath: string): string[] {
  return [
    '--port', '0',
    '--unixsocket', socketPath,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--supervised', 'no',
    '--logfile', '',
  ];
}

/** One spawned server and how it ended. */
interface Launch {
  child: ChildProcess;
  ended: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException }>;
  startedAt: number;
}

const silent: ManagedRedisLog = { info: () => {}, warn: () => {}, error: () => {} };

/** Supervises tail2d's own redis-server; see the file comment for how a leftover one is handled. */
export class ManagedRedis extends EventEmitter<ManagedRedisEvents> {
  /** `<stateDir>/redis`, absolute. */
  readonly dir: string;
  readonly socketPath: string;
  private readonly redisServer: string;
  private readonly log: ManagedRedisLog;
  private current: Launch | undefined;
  private output: string[] = [];
  private supervising = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** When restartTimer fires (wall-clock ms); null while no restart is scheduled. */
  private restartAtMs: number | null = null;
  private backoffMs = BACKOFF_FIRST_MS;
  private restarts = 0;
  private lastExit: RedisExit | undefined;
  /** undefined: not looked up yet; null: not installed. */
  private setprivPath: string | null | undefined;
  // Why: process.exit() or an uncaught exception skips stop(); SIGTERM lets redis flush its AOF then too.
  private readonly killOnExit = (): void => void this.current?.child.kill('SIGTERM');

  /** @throws ManagedRedisError `REDIS_SOCKET_PATH_TOO_LONG` */
  constructor(options: ManagedRedisOptions) {
    super();
    this.dir = join(resolve(options.stateDir), 'redis');
    this.socketPath = join(this.dir, 'redis.sock');
    this.redisServer = options.redisServer ?? 'redis-server';
    this.log = options.log ?? silent;
    const bytes = Buffer.byteLength(this.socketPath);
    if (bytes > MAX_SOCKET_PATH_BYTES) {
      throw new ManagedRedisError(
        'REDIS_SOCKET_PATH_TOO_LONG',
        `the Redis socket path ${this.socketPath} is ${bytes} bytes; unix socket paths may have at most ${MAX_SOCKET_PATH_BYTES}: choose a shorter state_dir, or set redis.url to use another Redis`,
      );
    }
  }

  /**
   * The socket as a "URL": ioredis (`new Redis(url)`) and redisConnectionOptions() both take an
   * absolute socket path. Prefer {@link connectionOptions}.
   */
  get url(): string {
    return this.socketPath;
  }

  /** ioredis options for our server. BullMQ workers add `maxRetriesPerRequest: null` themselves. */
  connectionOptions(): RedisConnectionOptions {
    return { path: this.socketPath };
  }

  /**
   * Creates `<stateDir>/redis/` (0700), shuts down a leftover server of ours, removes a stale socket,
   * starts redis-server and resolves once it answers PING (its AOF is loaded by then).
   * @throws ManagedRedisError `REDIS_NOT_FOUND`, `REDIS_START_FAILED`, `REDIS_START_TIMEOUT` (10 s),
   * `REDIS_SOCKET_IN_USE`; the messages carry the server's last output.
   */
  async start(): Promise<void> {
    if (this.supervising || (this.current && !this.current.ended)) throw new Error('ManagedRedis.start() called twice without stop()');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a directory that already exists.
    chmodSync(this.dir, 0o700);
    await this.clearLeftover();
    const launch = this.launch();
    try {
      await this.waitReady(launch);
    } catch (error) {
      await this.terminate(launch, 'SIGKILL');
      throw error;
    }
    this.supervising = true;
    process.on('exit', this.killOnExit);
    this.log.info({ pid: launch.child.pid, socket: this.socketPath }, 'redis-server started');
  }

  /**
   * Stops supervising and the server: SIGTERM (redis flushes the AOF and exits), SIGKILL after 5 s.
   * The data stays on disk for the next start.
   */
  async stop(): Promise<void> {
    this.supervising = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.restartAtMs = null;
    process.off('exit', this.killOnExit);
    const launch = this.current;
    if (!launch || launch.ended) return;
    await this.terminate(launch, 'SIGTERM');
    this.log.info({ pid: launch.child.pid }, 'redis-server stopped');
  }

  /** `notifications.redis.managed` in GET /api/status. */
  status(): ManagedRedisStatus {
    const running = this.current !== undefined && !this.current.ended;
    const status: ManagedRedisStatus = {
      managed: true,
      socket: this.socketPath,
      pid: running ? (this.current?.child.pid ?? null) : null,
      running,
      restarts: this.restarts,
      restart_at_ms: this.restartAtMs,
    };
    if (this.lastExit) status.last_exit = this.lastExit;
    return status;
  }

  /**
   * Spawns the server, through setpriv when it is installed.
   *
   * PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Node's
   * child_process.spawn calls libuv's uv_spawn synchronously on the calling JavaScript thread, and
   * ManagedRedis runs on tail2d's main thread (never a worker_thread), which lives exactly as long
   * as the process: the signal comes when tail2d dies, not before. SIGKILL rather than SIGTERM:
   * after tail2d is gone nothing waits for a graceful exit, and a server that would not stop on
   * SIGTERM must not linger; redis write()s its AOF every event-loop turn, so what it acknowledged
   * is in the kernel already (and the outbox re-queues notifications in any case).
   *
   * The binary is resolved first, so that a missing redis-server still fails as a spawn ENOENT
   * (REDIS_NOT_FOUND) rather than as setpriv's exit 127.
   */
  private launch(): Launch {
    this.output = [];
    const server = findExecutable(this.redisServer);
    const args = redisServerArgs(this.dir, this.socketPath);
    const setpriv = server ? this.setpriv() : undefined;
    const child = setpriv && server
      ? spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', server, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(this.redisServer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.output.push(line);
        if (this.output.length > OUTPUT_LINES) this.output.shift();
        this.log.debug?.({ line }, 'redis-server output');
      });
    }
    const launch: Launch = {
      child,
      ended: false,
      startedAt: performance.now(),
      exit: new Promise((resolveExit) => {
        child.on('error', (error: NodeJS.ErrnoException) => {
          // 'error' without a pid is a failed spawn, which emits no 'exit'; later errors (a failed
          // kill()) change nothing about the process.
          if (child.pid === undefined) resolveExit({ code: null, signal: null, spawnError: error });
        });
        child.once('exit', (code, signal) => {
          // 'exit' can come before the last lines are read: give 'close' a moment to drain the pipes.
          const drained = setTimeout(() => resolveExit({ code, signal }), 250);
          child.once('close', () => {
            clearTimeout(drained);
            resolveExit({ code, signal });
          });
        });
      }),
    };
    void launch.exit.then(({ code, signal }) => {
      launch.ended = true;
      this.onExit(launch, code, signal);
    });
    this.current = launch;
    return launch;
  }

  /** setpriv's path, looked up once; undefined (and a warning) when it is not installed. */
  private setpriv(): string | undefined {
    if (this.setprivPath === undefined) {
      this.setprivPath = findExecutable('setpriv') ?? null;
      if (this.setprivPath === null) {
        this.log.warn({}, 'setpriv (util-linux) not found: redis-server is started without PR_SET_PDEATHSIG, so it outlives a SIGKILLed tail2d until the next start shuts it down');
      }
    }
    return this.setprivPath ?? undefined;
  }

  private onExit(launch: Launch, code: number | null, signal: NodeJS.Signals | null): void {
    if (launch !== this.current || !this.supervising) return;
    const exit: RedisExit = { code, signal, at_ms: Date.now(), output: this.output.join('\n') };
    this.lastExit = exit;
    if (performance.now() - launch.startedAt >= STABLE_AFTER_MS) this.backoffMs = BACKOFF_FIRST_MS;
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.log.error({ code, signal, output: exit.output, restartInMs: delayMs }, 'redis-server exited unexpectedly; restarting it');
    this.emit('exit', exit);
    this.scheduleRestart(delayMs);
  }

  private scheduleRestart(delayMs: number): void {
    this.restartAtMs = Date.now() + delayMs;
    this.restartTimer = setTimeout(() => void this.restart(), delayMs);
  }

  private async restart(): Promise<void> {
    this.restartTimer = undefined;
    this.restartAtMs = null;
    if (!this.supervising) return;
    this.restarts++;
    let launch: Launch;
    try {
      await this.clearLeftover();
      if (!this.supervising) return;
      launch = this.launch();
    } catch (error) {
      this.log.error({ err: error }, 'cannot restart redis-server');
      // Treat it as another failed run, so the backoff keeps growing.
      this.scheduleRestart(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
      return;
    }
    try {
      await this.waitReady(launch);
      const pid = launch.child.pid ?? -1;
      this.log.info({ pid, restarts: this.restarts }, 'redis-server restarted');
      this.emit('restart', { pid, restarts: this.restarts });
    } catch (error) {
      // An exit is already handled (and rescheduled) by onExit; a slow start is only worth a warning.
      if (!launch.ended) this.log.warn({ err: error }, 'restarted redis-server does not answer PING yet');
    }
  }

  /** Polls PING on the socket until it answers, the child exits, or START_TIMEOUT_MS pass. */
  private async waitReady(launch: Launch): Promise<void> {
    const deadline = performance.now() + START_TIMEOUT_MS;
    while (performance.now() < deadline) {
      if (launch.ended) throw this.exitedError(await launch.exit);
      if (await pingRedis({ path: this.socketPath }, 500)) return;
      await Promise.race([sleep(POLL_MS), launch.exit]);
    }
    throw new ManagedRedisError(
      'REDIS_START_TIMEOUT',
      `redis-server (pid ${launch.child.pid}) did not answer PING on ${this.socketPath} within ${START_TIMEOUT_MS / 1000} s.${this.lastLines()}`,
    );
  }

  private exitedError(exit: Awaited<Launch['exit']>): ManagedRedisError {
    const error = exit.spawnError;
    if (error?.code === 'ENOENT') {
      return new ManagedRedisError(
        'REDIS_NOT_FOUND',
        `redis-server not found (tried ${this.redisServer}): install Debian's redis-server (npm start installs it) or set redis.url`,
        { cause: error },
      );
    }
    if (error) return new ManagedRedisError('REDIS_START_FAILED', `cannot run ${this.redisServer}: ${error.message}`, { cause: error });
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    return new ManagedRedisError('REDIS_START_FAILED', `redis-server exited during start (${how}).${this.lastLines()}`);
  }

  private lastLines(): string {
    return this.output.length ? ` Its last output:\n${this.output.join('\n')}` : ' It printed nothing.';
  }

  /** Signals the child and waits for it; SIGTERM escalates to SIGKILL after STOP_TIMEOUT_MS. */
  private async terminate(launch: Launch, signal: NodeJS.Signals): Promise<void> {
    if (launch.ended) return;
    launch.child.kill(signal);
    const exited = await Promise.race([launch.exit.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (exited) return;
    this.log.warn({ pid: launch.child.pid }, `redis-server did not exit ${STOP_TIMEOUT_MS / 1000} s after ${signal}; killing it`);
    launch.child.kill('SIGKILL');
    await launch.exit;
  }

  /** Makes the socket path free for our server: see the file comment. */
  private async clearLeftover(): Promise<void> {
    if (!existsSync(this.socketPath)) return;
    const holder = await socketHolder(this.socketPath);
    if (!holder) {
      this.log.info({ socket: this.socketPath }, 'removing a stale Redis socket');
      try {
        unlinkSync(this.socketPath);
      } catch {
        // Gone already, or not a file we can remove: redis-server reports the latter clearly.
      }
      return;
    }
    try {
      if (holder.dir !== realpathSync(this.dir)) {
        throw new ManagedRedisError(
          'REDIS_SOCKET_IN_USE',
          `another Redis (pid ${holder.pid ?? 'unknown'}, dir ${holder.dir ?? 'unknown'}) listens on ${this.socketPath}: stop it, or choose another state_dir`,
        );
      }
      this.log.warn(
        { pid: holder.pid, socket: this.socketPath },
        'a redis-server left over from a previous tail2d holds our socket; shutting it down to run a supervised one',
      );
      // The server closes the connection instead of replying.
      await holder.client.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    } finally {
      holder.client.disconnect();
    }
    if (holder.pid !== null) await waitForPidExit(holder.pid);
  }
}

interface SocketHolder {
  /** The server's working directory (CONFIG GET dir); null when CONFIG is not allowed. */
  dir: string | null;
  pid: number | null;
  /** Connected; the caller disconnects it. */
  client: Redis;
}

/** Who answers on the socket; null when nobody does (a stale file). */
async function socketHolder(path: string): Promise<SocketHolder | null> {
  if (!(await pingRedis({ path }, 1000))) return null;
  const client = new Redis({
    path,
    lazyConnect: true,
    // Why no ready check: it waits until a loading server has replayed its AOF; CONFIG, INFO and
    // SHUTDOWN all work while it loads.
    enableReadyCheck: false,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    disableClientInfo: true,
  });
  client.on('error', () => {}); // Why: every failure also rejects the awaited command below.
  try {
    await client.connect();
  } catch {
    client.disconnect();
    return null;
  }
  const [, dir] = (await client.call('CONFIG', 'GET', 'dir').catch(() => [])) as unknown[];
  const info = await client.info('server').catch(() => '');
  const pidLine = /^process_id:(\d+)/m.exec(info);
  return { dir: typeof dir === 'string' ? dir : null, pid: pidLine ? Number(pidLine[1]) : null, client };
}

/** Waits until `pid` is gone (a zombie counts as gone); SIGKILLs it after the timeout. */
async function waitForPidExit(pid: number): Promise<void> {
  const deadline = performance.now() + LEFTOVER_EXIT_TIMEOUT_MS;
  while (isAlive(pid)) {
    if (performance.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // It exited meanwhile.
      }
      await sleep(100);
      return;
    }
    await sleep(POLL_MS);
  }
}

/**
 * The absolute path of an executable: `name` itself when it contains a slash, else the first match
 * on $PATH; undefined when there is none that may be executed.
 */
export function findExecutable(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string | undefined {
  const candidates = name.includes('/') ? [resolve(name)] : path.split(':').filter(Boolean).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here (or not executable): try the next one.
    }
  }
  return undefined;
}

/** Whether `pid` runs: a zombie (an orphan nobody reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    // Why /proc: an orphan whose new parent does not reap it stays a zombie, and kill(pid, 0) succeeds on zombies.
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
