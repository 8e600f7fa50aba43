import { z } from 'zod';

/** How tail2d's own redis-server last ended without being asked to. */
export const redisExitSchema = z.object({
  code: z.number().nullable(),
  signal: z.string().nullable(),
  /** Wall-clock ms since the epoch of the exit. */
  at_ms: z.number(),
  /** Its last lines of output (up to 50). */
  output: z.string(),
});
export type RedisExit = z.infer<typeof redisExitSchema>;

/** tail2d's own redis-server (absent with `redis.url`): ManagedRedis.status(). */
export const managedRedisStatusSchema = z.object({
  managed: z.literal(true),
  /** Its unix socket, `<state_dir>/redis/redis.sock`. */
  socket: z.string(),
  /** The running server's pid; null while it is down. */
  pid: z.number().nullable(),
  running: z.boolean(),
  /** Restarts after unexpected exits since tail2d started. */
  restarts: z.number(),
  /** When the next restart is due (wall-clock ms) while one is scheduled; null otherwise. */
  restart_at_ms: z.number().nullable(),
  /** Present once it has exited without being asked to. */
  last_exit: redisExitSchema.optional(),
});
export type ManagedRedisStatus = z.infer<typeof managedRedisStatusSchema>;

/** One notifier's BullMQ queue: job counts as BullMQ reports them. */
export const notifierQueueStatusSchema = z.object({
  /** The notifier's name in tail2.yaml. */
  target: z.string(),
  waiting: z.number(),
  /** Waiting for a retry's time. */
  delayed: z.number(),
  active: z.number(),
  failed: z.number(),
  completed: z.number(),
});
export type NotifierQueueStatus = z.infer<typeof notifierQueueStatusSchema>;

/** The Redis the queue is on, as the queue sees it. */
export const queueRedisStatusSchema = z.object({
  reachable: z.boolean(),
  /** Why it is unreachable; null while reachable. */
  error: z.string().nullable(),
  /** Its `maxmemory-policy`; null until read. */
  maxmemory_policy: z.string().nullable(),
  /** Set when the policy lets Redis evict jobs (anything but `noeviction`). */
  policy_problem: z.string().nullable(),
});

/** The notification queue (NotificationService.status()). */
export const notificationQueueStatusSchema = z.object({
  redis: queueRedisStatusSchema,
  /** Notifications stored but not yet delivered or failed (the outbox). */
  outbox: z.number(),
  targets: z.array(notifierQueueStatusSchema),
  /** Why the last hand-over of the outbox to the queue failed; null when it did not. */
  last_dispatch_error: z.string().nullable(),
});
export type NotificationQueueStatus = z.infer<typeof notificationQueueStatusSchema>;

/** `notifications` in GET /api/status while notifiers are configured (Notifications.status()). */
export const notificationsStatusSchema = notificationQueueStatusSchema.extend({
  redis: queueRedisStatusSchema.extend({
    /** Where Redis is: `unix:<socket> (tail2d's own redis-server)` or `redis.url` without its password. */
    where: z.string(),
    /** tail2d's own redis-server; null with `redis.url`. */
    managed: managedRedisStatusSchema.nullable(),
    /** Why tail2d's own redis-server could not start (retried every 30 s); null when it runs. */
    start_error: z.string().nullable(),
  }),
});
export type NotificationsStatus = z.infer<typeof notificationsStatusSchema>;

/** `notifications` in GET /api/status when tail2.yaml configures no notifier: no Redis runs. */
export const notificationsOffSchema = z.object({ enabled: z.literal(false), reason: z.string() });
export type NotificationsOff = z.infer<typeof notificationsOffSchema>;
