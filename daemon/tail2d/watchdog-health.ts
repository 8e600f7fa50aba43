/** How long Redis may be unreachable before the systemd watchdog stops being fed. */
export const REDIS_GRACE_MS = 120_000;

export interface HealthInputs {
  samplingError: string | undefined;
  /** The notification queue's view of Redis; undefined without notifiers. */
  redis: { reachable: boolean; error: string | null; start_error?: string | null } | undefined;
  /** Since when Redis has been unreachable, as tracked by the caller (undefined: it is not). */
  redisDownSinceMs: number | undefined;
  capturesInFlight: number;
  nowMs: number;
}

/**
 * Whether tail2d is healthy enough to feed systemd's watchdog (systemd restarts it otherwise):
 * sampling must run; with notifiers, the queue must reach Redis — but an outage counts only after
 * two minutes and never while a capture is in flight, since a restart drops the rolling buffer and
 * the capture with it while notifications wait safely in the outbox.
 */
export function watchdogHealth(inputs: HealthInputs): { ok: boolean; reason?: string } {
  if (inputs.samplingError !== undefined) return { ok: false, reason: `sampling stopped: ${inputs.samplingError}` };
  const { redis, redisDownSinceMs, nowMs } = inputs;
  if (!redis || redis.reachable || redisDownSinceMs === undefined) return { ok: true };
  if (nowMs - redisDownSinceMs < REDIS_GRACE_MS || inputs.capturesInFlight > 0) return { ok: true };
  return { ok: false, reason: `Redis unreachable for ${Math.round((nowMs - redisDownSinceMs) / 1000)} s: ${redis.error ?? redis.start_error ?? 'no answer'}` };
}
