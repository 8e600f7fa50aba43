import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NotificationQueueStatus, NotifierQueueStatus } from '../daemon/model/notifications-status.js';
import { ThrottledErrorLog } from '../daemon/model/throttled-error-log.js';
import { DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from './delivery-backoff.js';
import { loadDeliveryContent } from './delivery-content.js';
import { DeliveryError, type NotificationSender } from './delivery.js';
import { isOpen, recordOutcome, type NotificationStore } from './notification-store.js';
import { checkEvictionPolicy, type EvictionPolicyCheck } from './redis/redis-connection.js';

/** What a queued job names: the incident and the notifier; everything else is read at send time. */
interface DeliveryJob {
  incidentId: string;
  target: string;
}

export interface NotificationServiceOptions {
  /** Where Redis is: the daemon's own redis-server socket, or `redis.url`. */
  connection: RedisOptions;
  store: NotificationStore;
  senders: NotificationSender[];
  /** `web.public_url`, for the link to the incident page. */
  publicUrl: string;
  log: Logger;
  backoff?: BackoffPolicy;
  /** How often the outbox is read again when nothing prompts it (ms). @defaultValue 2000 */
  dispatchIntervalMs?: number;
  /** How long stop() lets a delivery in progress finish before leaving it to the next start (ms). @defaultValue 10000 */
  stopTimeoutMs?: number;
  /** Redis key prefix. @defaultValue tail2 */
  prefix?: string;
  /** Told about every attempt's outcome (delivered, retrying, failed), for /metrics. */
  onOutcome?: (target: string, outcome: string) => void;
}

/**
 * One notifier's queue, worker and sender. Queue and worker are replaced when their connection's
 * first setup failed (see {@link NotificationService.startWorker}).
 */
interface Target {
  sender: NotificationSender;
  queue: Queue<DeliveryJob>;
  /** When the queue was last replaced (ms since the epoch), to replace a broken one at most every {@link REOPEN_MS}. */
  queueOpenedMs: number;
  /** The worker being started or running; undefined between a failed start and the next try. */
  worker: Worker<DeliveryJob, string> | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** Starts that failed in a row, for the retry's backoff; 0 once one is ready. */
  failedStarts: number;
  /** Why the last start failed, until one is ready: shown in status() as Redis not reachable. */
  workerError: string | null;
}


/**
 * Retries are counted by BullMQ but never exhausted: a notification is retried until it is
 * delivered, refused for good (a permanent error), or its incident leaves the store.
 */
const UNLIMITED_ATTEMPTS = 1_000_000;
/** Jobs are kept after they finish so that adding the same job id again is a no-op, not a second message. */
const KEEP_COMPLETED_S = 7 * 24 * 3600;
const KEEP_FAILED_S = 30 * 24 * 3600;
/** An add to the queue taking this long means Redis is not answering. */
const SLOW_ADD_MS = 3_000;
/** Re-add every open notification this often, in case Redis lost its jobs (restarted without its data). */
const REDISPATCH_ALL_MS = 30_000;
/** Whether `promise` settled (either way) within `ms`; the timer does not outlive the answer. */
async function settledWithin(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = (promise ?? Promise.resolve()).then(
    () => true,
    () => true,
  );
  const result = await Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return result;
}

/** How long after a failed start a worker is tried again (doubling up to REOPEN_MAX_MS), and how often a broken queue may be replaced. */
const REOPEN_MS = 2_000;
const REOPEN_MAX_MS = 60_000;

/**
 * Delivers incidents' notifications through BullMQ, one queue per notifier.
 *
 * The outbox is the incident index itself: a stored incident lists its notifications as `pending`
 * (written in the same step as the incident). The dispatcher reads the open ones and adds a job per
 * incident and target with the job id `<incident>.<target>`, so adding it again after a restart, a
 * Redis outage or a lost reply is a no-op and no message is sent twice. Workers send, and every
 * attempt's outcome (delivered / retrying with the next attempt's time / failed with the reason)
 * is written back to the incident, which closes its outbox entry once final.
 */
export class NotificationService {
  private readonly targets = new Map<string, Target>();
  /** Job ids added since the last full re-dispatch; skipped to spare Redis a round trip per pass. */
  private readonly added = new Set<string>();
  /** Backoff chosen by the processor for a failed attempt, handed to BullMQ's backoff strategy. */
  private readonly retryDelays = new Map<string, number>();
  private readonly backoff: BackoffPolicy;
  private timer: NodeJS.Timeout | undefined;
  private dispatching: Promise<void> | undefined;
  private dispatchAgain = false;
  private lastFullDispatchMs = 0;
  private redisError: string | null = null;
  private lastDispatchError: string | null = null;
  /** The refresh of the queue counts in progress, if one is (see dispatch). */
  private countsRefreshing: Promise<void> | undefined;
  private counts = new Map<string, NotifierQueueStatus>();
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private eviction: EvictionPolicyCheck | undefined;
  /** A pass that throws (the outbox cannot be read) is retried every 2 s but logged once a minute. */
  private readonly dispatchFailures: ThrottledErrorLog;
  /** A worker whose start failed is tried again (2 s, doubling up to a minute), logged once a minute. */
  private readonly workerFailures: ThrottledErrorLog;
  /** Closes of replaced workers and queues still under way (see closeLater). */
  private readonly closings = new Set<Promise<void>>();

  constructor(private readonly options: NotificationServiceOptions) {
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.dispatchFailures = new ThrottledErrorLog(options.log, 'notification dispatch failed; retried every pass');
    this.workerFailures = new ThrottledErrorLog(options.log, `a notifier cannot take jobs from Redis (its connection failed while starting); a new one is tried after ${REOPEN_MS / 1000} s, then less often, up to every ${REOPEN_MAX_MS / 1000} s`);
  }

  /** Opens a queue and a worker per notifier and starts dispatching. Does not wait for Redis. */
  start(): void {
    for (const sender of this.options.senders) {
      const target: Target = { sender, queue: this.openQueue(sender), queueOpenedMs: Date.now(), worker: undefined, restartTimer: undefined, failedStarts: 0, workerError: null };
      this.targets.set(sender.target, target);
      this.startWorker(target);
    }
    this.timer = setInterval(() => this.dispatchSoon(), this.options.dispatchIntervalMs ?? 2000);
    this.dispatchSoon();
  }

  /** Reconnect while running; once stopping, give up, or a worker's close() waits forever for a Redis that is down (BullMQ issue #4656). */
  private readonly retryStrategy = (times: number): number | null => (this.stopped ? null : Math.min(times * 200, 2000));

  /** The queue fails fast while Redis is away (the outbox keeps the notification); workers wait for it and resume on their own. */
  private openQueue(sender: NotificationSender): Queue<DeliveryJob> {
    const queue = new Queue<DeliveryJob>(`notify-${sender.target}`, {
      connection: { ...this.options.connection, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: this.retryStrategy },
      prefix: this.options.prefix ?? 'tail2',
    });
    queue.on('error', (error) => this.onRedisError(error));
    return queue;
  }

  /**
   * Starts the notifier's worker once its connections are set up, never before. BullMQ (6.7) keeps
   * the failure of a connection's first setup forever (Redis resetting the connection while it
   * starts, or refusing INFO): every later command fails at once with it, and a running worker's
   * fetch loop, which retries without a pause on any error but ECONNREFUSED, then spins on it
   * without yielding, so no timer or socket of the daemon would run again. A worker whose setup
   * failed is closed and a new one tried {@link REOPEN_MS} later, doubling up to {@link REOPEN_MAX_MS}.
   */
  private startWorker(target: Target): void {
    const { sender } = target;
    const worker = new Worker<DeliveryJob, string>(`notify-${sender.target}`, (job) => this.deliver(job, target), {
      connection: { ...this.options.connection, maxRetriesPerRequest: null, retryStrategy: this.retryStrategy },
      prefix: this.options.prefix ?? 'tail2',
      autorun: false,
      concurrency: 1,
      // A message per second per notifier keeps a burst of incidents under Slack's posting limit.
      limiter: { max: 1, duration: 1000 },
      // A job left active by a killed daemon returns to the queue when its lock expires; it must
      // not be failed for that, however often the daemon is restarted.
      maxStalledCount: UNLIMITED_ATTEMPTS,
      settings: { backoffStrategy: (attemptsMade, _type, _error, job) => this.takeRetryDelay(job?.id, attemptsMade) },
    });
    worker.on('error', (error) => this.onRedisError(error));
    target.worker = worker;
    worker.waitUntilReady().then(
      () => {
        if (this.stopped || target.worker !== worker) return;
        this.workerFailures.succeeded();
        target.failedStarts = 0;
        target.workerError = null;
        worker.run().catch((error: unknown) => this.workerFailed(target, worker, error));
      },
      (error: unknown) => this.workerFailed(target, worker, error),
    );
  }

  /** A worker that could not start (or stopped on an error): closed, and another tried later. */
  private workerFailed(target: Target, worker: Worker<DeliveryJob, string>, error: unknown): void {
    if (target.worker !== worker) return;
    target.worker = undefined;
    // Why force: a graceful close would wait on the very connection that failed.
    this.closeLater(worker.close(true));
    if (this.stopped) return;
    target.workerError = `the ${target.sender.target} notifier cannot take jobs from Redis: ${(error as Error)?.message ?? String(error)}`;
    this.workerFailures.failed(error);
    target.failedStarts++;
    target.restartTimer = setTimeout(
      () => {
        target.restartTimer = undefined;
        if (!this.stopped) this.startWorker(target);
      },
      Math.min(REOPEN_MS * 2 ** (target.failedStarts - 1), REOPEN_MAX_MS),
    );
  }

  /**
   * After a failed add: a queue whose connection's first setup failed never recovers (see
   * {@link startWorker}), so it is replaced, at most every {@link REOPEN_MS}. One that is only
   * waiting for Redis is kept.
   */
  private async replaceQueueIfBroken(target: Target): Promise<void> {
    if (this.stopped || Date.now() - target.queueOpenedMs < REOPEN_MS) return;
    const queue = target.queue;
    const broken = await Promise.race([
      queue.waitUntilReady().then(() => false, () => true),
      // Not settled by the next turn of the event loop: still connecting, not broken.
      new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
    ]);
    if (!broken || this.stopped || target.queue !== queue) return;
    target.queue = this.openQueue(target.sender);
    target.queueOpenedMs = Date.now();
    this.closeLater(queue.close());
  }

  /** A close not waited for where it starts (a broken worker or queue), but by stop(), so no socket outlives it. */
  private closeLater(closing: Promise<void>): void {
    const settled = closing.catch(() => undefined);
    this.closings.add(settled);
    void settled.then(() => this.closings.delete(settled));
  }

  /** Reads the outbox now (an incident was just stored). Passes never overlap; one asked during a pass runs after it. */
  dispatchSoon(): void {
    if (this.stopped) return;
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = this.dispatch()
      .then(
        () => this.dispatchFailures.succeeded(),
        (error: unknown) => this.dispatchFailures.failed(error),
      )
      .finally(() => {
        this.dispatching = undefined;
        if (this.dispatchAgain) {
          this.dispatchAgain = false;
          this.dispatchSoon();
        }
      });
  }

  /**
   * Stops dispatching, lets deliveries in progress finish for up to the stop timeout, and closes
   * the connections. A delivery cut short stays in Redis and is retried after the next start.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const timeoutMs = this.options.stopTimeoutMs ?? 10_000;
    // A pass waiting on a Redis that is down is abandoned: what it did not queue stays in the outbox.
    await settledWithin(this.dispatching, Math.min(timeoutMs, 2000));
    await Promise.all(
      [...this.targets.values()].map(async (target) => {
        const { worker, queue, sender } = target;
        clearTimeout(target.restartTimer);
        if (worker && !(await settledWithin(worker.close(), timeoutMs))) {
          // The job's lock expires in Redis and the next start runs it again; nothing is lost.
          this.options.log.warn({ target: sender.target, timeoutMs }, 'a notification was still being sent at shutdown; it is retried after the next start');
        }
        // Why catch: with Redis down at stop, the queue's QUIT fails at once (no offline queue);
        // the sender must still be closed.
        await queue.close().catch((error: unknown) => this.options.log.warn({ target: sender.target, err: error }, 'closing the notification queue failed'));
        await sender.close?.();
      }),
    );
    await settledWithin(Promise.all(this.closings), timeoutMs);
  }

  /** What GET /api/status shows of the queue (Notifications adds where Redis is). */
  status(): NotificationQueueStatus {
    const workerError = [...this.targets.values()].find((t) => t.workerError !== null)?.workerError ?? null;
    return {
      redis: {
        reachable: this.redisError === null && workerError === null,
        error: this.redisError ?? workerError,
        maxmemory_policy: this.eviction?.policy ?? null,
        policy_problem: this.eviction?.problem ?? null,
      },
      outbox: this.options.store.outbox().reduce((sum, entry) => sum + entry.notifications.filter(isOpen).length, 0),
      targets: [...this.targets.keys()].map((target) => this.counts.get(target) ?? { target, waiting: 0, delayed: 0, active: 0, failed: 0, completed: 0 }),
      last_dispatch_error: this.lastDispatchError,
    };
  }

  /** Hands every open notification of the outbox to its queue. */
  private async dispatch(): Promise<void> {
    const now = Date.now();
    if (now - this.lastFullDispatchMs >= REDISPATCH_ALL_MS) {
      this.added.clear();
      this.lastFullDispatchMs = now;
    }
    for (const entry of this.options.store.outbox()) {
      for (const notification of entry.notifications.filter(isOpen)) {
        const jobId = `${entry.id}.${notification.target}`;
        if (this.added.has(jobId)) continue;
        const target = this.targets.get(notification.target);
        if (!target) {
          await recordOutcome(this.options.store, entry.id, notification.target, {
            status: 'failed',
            attempts: notification.attempts ?? 0,
            detail: `notifier "${notification.target}" is not configured in tail2.yaml (any more)`,
          });
          continue;
        }
        // Before its first connection, BullMQ holds an add until Redis answers, however long that
        // takes: say so after a while, and keep this pass (the only one) waiting on it.
        const slow = setTimeout(() => this.noteDispatchError(`waiting for Redis to queue notifications (${this.redisError ?? 'no answer'}); they wait in the outbox`), SLOW_ADD_MS);
        try {
          await target.queue.add(
            'deliver',
            { incidentId: entry.id, target: notification.target },
            { jobId, attempts: UNLIMITED_ATTEMPTS, backoff: { type: 'tail2' }, removeOnComplete: { age: KEEP_COMPLETED_S }, removeOnFail: { age: KEEP_FAILED_S } },
          );
          this.added.add(jobId);
        } catch (error) {
          // Redis is away: everything stays in the outbox for the next pass.
          this.noteDispatchError(`cannot queue notifications: ${(error as Error).message}; they wait in the outbox`);
          this.added.clear();
          await this.replaceQueueIfBroken(target);
          return;
        } finally {
          clearTimeout(slow);
        }
      }
    }
    this.noteDispatchError(null);
    // The counts go through the queue's connection, which holds a command while Redis is away
    // (reconnecting) for as long as the outage lasts: a pass waits for them a moment only, and a
    // refresh still waiting is not asked again, so neither passes nor waiting commands pile up.
    this.countsRefreshing ??= this.refreshCounts().finally(() => (this.countsRefreshing = undefined));
    await settledWithin(this.countsRefreshing, SLOW_ADD_MS);
    if (!this.eviction) await this.checkEviction();
  }

  /** Once Redis answers: BullMQ loses jobs under any maxmemory-policy but noeviction, so say so. */
  private async checkEviction(): Promise<void> {
    const client = new Redis({ ...this.options.connection, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', () => undefined); // the connect() below rejects with the same error
    try {
      await client.connect();
      this.eviction = await checkEvictionPolicy(client);
      if (this.eviction.problem) this.options.log.error({ policy: this.eviction.policy }, this.eviction.problem);
    } catch {
      // Unreachable again: checked on a later pass.
    } finally {
      client.disconnect();
    }
  }

  /** One delivery attempt (BullMQ's processor). */
  private async deliver(job: Job<DeliveryJob>, notifier: Target): Promise<string> {
    const { sender } = notifier;
    const { incidentId, target } = job.data;
    const { store, log } = this.options;
    const release = store.hold(incidentId);
    try {
      const record = await this.readForDelivery(job, target, () => store.get(incidentId));
      if (!record) throw new UnrecoverableError(`incident ${incidentId} is no longer stored`);
      const previous = record.notifications.find((n) => n.target === target);
      // A job added again after its outcome was written (a lost Redis reply) must not send twice.
      if (previous && !isOpen(previous)) return `already ${previous.status}`;
      const attempts = (previous?.attempts ?? 0) + 1;
      const content = await this.readForDelivery(job, target, () => loadDeliveryContent(store, incidentId, this.options.publicUrl));
      if (!content) throw new UnrecoverableError(`incident ${incidentId} is no longer stored`);
      let receipt: string;
      try {
        receipt = await sender.send(content);
      } catch (error) {
        throw await this.onAttemptFailed(job, sender.target, notifier.queue, attempts, error);
      }
      await this.record(incidentId, target, { status: 'delivered', attempts, detail: receipt, delivered_at: new Date().toISOString() });
      log.info({ incident: incidentId, target, attempts, receipt }, 'notification delivered');
      return receipt;
    } finally {
      release();
    }
  }

  /**
   * Reads what a delivery needs from the store. Only a missing incident reads as undefined; any
   * other failure (EIO, a damaged incident.json, too many open files) is the store's, not the
   * incident's: the job is retried after the usual backoff, not failed, so one bad read never
   * strands a notification. Nothing is recorded on the incident (it could not be read), so the
   * outbox keeps it open.
   */
  private async readForDelivery<T>(job: Job<DeliveryJob>, target: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      const delayMs = retryDelayMs(job.attemptsMade + 1, this.backoff);
      if (job.id) this.retryDelays.set(job.id, delayMs);
      this.options.log.warn(
        { incident: job.data.incidentId, target, err: error, next_attempt_at: new Date(Date.now() + delayMs).toISOString() },
        'cannot read the incident to notify about; retrying later',
      );
      throw error;
    }
  }

  /**
   * Records a failed attempt and returns what to throw to BullMQ: an UnrecoverableError for a
   * permanent failure, the rate-limit error after pausing the queue for Retry-After, or the error
   * itself to retry after the backoff chosen here (and handed to BullMQ by takeRetryDelay).
   */
  private async onAttemptFailed(job: Job<DeliveryJob>, target: string, queue: Queue<DeliveryJob>, attempts: number, error: unknown): Promise<Error> {
    const { incidentId } = job.data;
    const failure = error instanceof DeliveryError ? error : new DeliveryError((error as Error)?.message ?? String(error), 'transient');
    const fields = { incident: incidentId, target, attempts, err: failure.message };
    if (failure.kind === 'permanent') {
      await this.record(incidentId, target, { status: 'failed', attempts, detail: failure.message });
      this.options.log.error(fields, 'notification refused for good; not retried');
      return new UnrecoverableError(failure.message);
    }
    const delayMs = failure.kind === 'rate_limited' ? Math.max(failure.retryAfterMs ?? 1000, 1) : retryDelayMs(job.attemptsMade + 1, this.backoff);
    const next = new Date(Date.now() + delayMs).toISOString();
    await this.record(incidentId, target, { status: 'retrying', attempts, detail: failure.message, next_attempt_at: next });
    this.options.log.warn({ ...fields, next_attempt_at: next }, failure.kind === 'rate_limited' ? 'notification rate limited; waiting as asked' : 'notification attempt failed; will retry');
    if (failure.kind === 'rate_limited') {
      // The whole queue waits: every message to this notifier would get the same answer.
      await queue.rateLimit(delayMs);
      return Worker.RateLimitError();
    }
    if (job.id) this.retryDelays.set(job.id, delayMs);
    return failure;
  }

  private takeRetryDelay(jobId: string | undefined, attemptsMade: number): number {
    const chosen = jobId ? this.retryDelays.get(jobId) : undefined;
    if (jobId) this.retryDelays.delete(jobId);
    return chosen ?? retryDelayMs(attemptsMade, this.backoff);
  }

  /** Writes an outcome; a store failure is logged, not thrown: the message went out (or not) either way. */
  private async record(incidentId: string, target: string, change: Parameters<typeof recordOutcome>[3]): Promise<void> {
    this.options.onOutcome?.(target, change.status);
    try {
      await recordOutcome(this.options.store, incidentId, target, change);
    } catch (error) {
      this.options.log.error({ incident: incidentId, target, err: error }, 'cannot record the notification outcome on the incident');
    }
  }

  private async refreshCounts(): Promise<void> {
    for (const [target, { queue }] of this.targets) {
      try {
        const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed', 'completed');
        this.counts.set(target, {
          target,
          waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
          delayed: counts.delayed ?? 0,
          active: counts.active ?? 0,
          failed: counts.failed ?? 0,
          completed: counts.completed ?? 0,
        });
      } catch {
        // Redis went away between the dispatch and now; the counts stay as last seen.
      }
    }
  }

  /** Logs the first error of an outage and its end, not every reconnect attempt. */
  private onRedisError(error: Error): void {
    const message = error.message || String(error);
    if (this.redisError === null) this.options.log.error({ err: message }, 'Redis is unreachable; notifications wait in the outbox and are retried');
    this.redisError = message;
  }

  private noteDispatchError(message: string | null): void {
    if (message === null && this.redisError !== null) this.options.log.info('Redis is reachable again; queued notifications resume');
    if (message === null) this.redisError = null;
    else if (this.lastDispatchError === null) this.options.log.warn(message);
    this.lastDispatchError = message;
  }
}
