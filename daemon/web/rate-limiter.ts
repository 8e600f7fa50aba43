/**
 * At most `limit` events per key in any trailing `windowMs`: failed logins per client address.
 * Keys are forgotten once their window passes, and at most `maxKeys` are tracked, so a flood of
 * addresses cannot grow memory without bound (the least recently seen key is dropped first).
 */
export class RateLimiter {
  private readonly events = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** 0 when `key` may act now, else the ms until it may. */
  waitMs(key: string): number {
    const recent = this.recent(key, this.clock());
    return recent.length >= this.limit ? recent[0] + this.windowMs - this.clock() : 0;
  }

  /** Counts an event of `key`. */
  record(key: string): void {
    const now = this.clock();
    const recent = this.recent(key, now);
    recent.push(now);
    // Re-inserted so the Map's order is least recently seen first.
    this.events.delete(key);
    this.events.set(key, recent);
    while (this.events.size > this.maxKeys) {
      const oldest = this.events.keys().next().value;
      if (oldest === undefined) break;
      this.events.delete(oldest);
    }
  }

  private recent(key: string, now: number): number[] {
    const kept = (this.events.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (kept.length === 0) this.events.delete(key);
    else this.events.set(key, kept);
    return kept;
  }
}
