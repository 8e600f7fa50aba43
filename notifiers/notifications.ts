import type { Logger } from 'pino';
import type { Tail2Config } from '../daemon/model/config.js';
import { createSenders } from './create-senders.js';
import type { BackoffPolicy } from './delivery-backoff.js';
import type { NotificationsStatus } from '../daemon/model/notifications-status.js';
import { NotificationService } from './notification-service.js';
import type { NotificationStore } from './notification-store.js';
import { ManagedRedis } from './redis/managed-redis.js';
import { describeRedis, redisConnectionOptions } from './redis/redis-connection.js';

/** How often tail2d tries again to start its own redis-server after a failed start. */
const REDIS_START_RETRY_MS = 30_000;

/** The notification side of tail2d: its Redis (its own, or `redis.url`) and the queue. */
export class Notifications {
  private startError: string | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly service: NotificationService,
    private readonly where: string,
    private readonly managed: ManagedRedis | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * Starts the queue for the configured notifiers, and the daemon's own redis-server first when
   * `redis.url` is not set. Returns undefined when no notifier is configured: then nothing needs
   * Redis, and tail2d runs none.
   *
   * A redis-server that cannot start does not stop the profiler: incidents are still captured
   * and their notifications wait in the outbox; the failure is logged, shown in the status, and
   * the start retried every 30 s.
   */
  static async start(config: Tail2Config, store: NotificationStore, log: Logger, options: { backoff?: BackoffPolicy; onOutcome?: (target: string, outcome: string) => void } = {}): Promise<Notifications | undefined> {
    const senders = createSenders(config.notifiers);
    if (senders.length === 0) return undefined;
    const managed = config.redis.url ? undefined : new ManagedRedis({ stateDir: config.stateDir, log });
    const connection = managed ? managed.connectionOptions() : redisConnectionOptions(config.redis.url!);
    const where = managed ? `unix:${managed.socketPath} (tail2d's own redis-server)` : describeRedis(config.redis.url!);
    const service = new NotificationService({ connection, store, senders, publicUrl: config.web.publicUrl, log, backoff: options.backoff, onOutcome: options.onOutcome });
    const notifications = new Notifications(service, where, managed, log);
    if (managed) await notifications.startRedis(managed);
    service.start();
    log.info({ redis: where, notifiers: senders.map((s) => s.target) }, 'notifications started');
    return notifications;
  }

  /** An incident was stored: hand its notifications to the queue now rather than at the next pass. */
  incidentStored(): void {
    this.service.dispatchSoon();
  }

  /** Deliveries in progress finish (or return to the queue), then the daemon's own Redis stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.service.stop();
    await this.managed?.stop();
  }

  /** The pid of tail2d's own redis-server while it runs (none with `redis.url`). */
  redisPid(): number | undefined {
    return this.managed?.status().pid ?? undefined;
  }

  /** What GET /api/status shows under `notifications`. */
  status(): NotificationsStatus {
    const queue = this.service.status();
    return { ...queue, redis: { ...queue.redis, where: this.where, managed: this.managed?.status() ?? null, start_error: this.startError } };
  }

  private async startRedis(managed: ManagedRedis): Promise<void> {
    if (this.stopped) return;
    try {
      await managed.start();
      if (this.startError !== null) this.log.info('redis-server started; queued notifications resume');
      this.startError = null;
    } catch (error) {
      const message = (error as Error).message;
      if (this.startError === null) this.log.error({ err: message }, 'cannot start redis-server; notifications wait in the outbox, retrying every 30 s');
      this.startError = message;
      this.retryTimer = setTimeout(() => void this.startRedis(managed), REDIS_START_RETRY_MS);
    }
  }
}
