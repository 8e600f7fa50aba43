/** What {@link CpuBackoff.observe} asks the daemon to do. */
export type BackoffDecision = { change: 'none' } | { change: 'lower' | 'restore'; frequency: number; reason: string };

/** The window over which pressure is judged, and how many of its seconds must be above the cap. */
const PRESSURE_SECONDS = 10;
const PRESSURE_OVER = 8;
/** Seconds of own CPU well under the cap before the frequency is raised again. */
const CALM_SECONDS = 600;
/** Never below this: a profile must still have samples to show. */
export const MIN_FREQUENCY = 9;

/**
 * Self-protection: tail2d's own CPU, sampled once a second, against `sampling.max_cpu`. Above the
 * cap in 8 of the last 10 seconds (sustained, not a capture's burst of symbolizing), the sampling
 * frequency halves (down to 9 Hz); after ten minutes under
 * a quarter of the cap it doubles again, up to the configured frequency. Each change is a
 * decision the daemon carries out and reports (log, /status).
 */
export class CpuBackoff {
  private readonly window: number[] = [];
  private calm = 0;

  constructor(
    private readonly configured: number,
    private readonly maxShare: number,
  ) {}

  /** `share`: the daemon's CPU over the last second, as a share of one core; `current`: the frequency now. */
  observe(share: number, current: number): BackoffDecision {
    this.window.push(share);
    if (this.window.length > PRESSURE_SECONDS) this.window.shift();
    this.calm = share < this.maxShare / 4 ? this.calm + 1 : 0;
    const average = this.window.reduce((sum, s) => sum + s, 0) / this.window.length;
    const over = this.window.filter((s) => s > this.maxShare).length;
    if (this.window.length === PRESSURE_SECONDS && over >= PRESSURE_OVER && current > MIN_FREQUENCY) {
      this.window.length = 0;
      this.calm = 0;
      const frequency = Math.max(MIN_FREQUENCY, Math.floor(current / 2));
      return { change: 'lower', frequency, reason: `tail2d used ${(average * 100).toFixed(1)}% of a core over ${PRESSURE_SECONDS} s, above sampling.max_cpu ${(this.maxShare * 100).toFixed(1)}%` };
    }
    if (this.calm >= CALM_SECONDS && current < this.configured) {
      this.calm = 0;
      return { change: 'restore', frequency: Math.min(this.configured, current * 2), reason: `tail2d stayed under a quarter of sampling.max_cpu for ${CALM_SECONDS / 60} minutes` };
    }
    return { change: 'none' };
  }
}
