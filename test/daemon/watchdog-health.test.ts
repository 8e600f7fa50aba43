import { describe, expect, it } from 'vitest';
import { REDIS_GRACE_MS, watchdogHealth } from '../../daemon/tail2d/watchdog-health.js';

describe('watchdogHealth', () => {
  const down = { reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:6379' };
  const base = { samplingError: undefined, redis: { reachable: true, error: null }, redisDownSinceMs: undefined, capturesInFlight: 0, nowMs: 1_000_000 };

  it('is unhealthy when sampling stopped', () => {
    expect(watchdogHealth({ ...base, samplingError: 'perf event gone' })).toEqual({ ok: false, reason: 'sampling stopped: perf event gone' });
  });

  it('tolerates a Redis outage for two minutes, and any outage while a capture is in flight', () => {
    expect(watchdogHealth({ ...base, redis: undefined }).ok).toBe(true);
    expect(watchdogHealth({ ...base, redis: down, redisDownSinceMs: base.nowMs - REDIS_GRACE_MS + 1000 }).ok).toBe(true);
    expect(watchdogHealth({ ...base, redis: down, redisDownSinceMs: base.nowMs - REDIS_GRACE_MS - 1000, capturesInFlight: 1 }).ok).toBe(true);
    const unhealthy = watchdogHealth({ ...base, redis: down, redisDownSinceMs: base.nowMs - REDIS_GRACE_MS - 1000 });
    expect(unhealthy.ok).toBe(false);
    expect(unhealthy.reason).toBe('Redis unreachable for 121 s: connect ECONNREFUSED 127.0.0.1:6379');
  });
});
