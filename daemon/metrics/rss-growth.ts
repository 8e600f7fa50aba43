import type { MetricInstance, MetricReading } from '../model/metrics.js';
import { instanceKey } from '../model/metrics.js';

/**
 * Theil–Sen slope: the median of the slopes between every pair of points (`times` in seconds).
 * One wild point changes only the n−1 slopes it is part of, so it cannot move the median far;
 * a least-squares fit would follow it. `scratch` must hold n(n−1)/2 values.
 */
export function theilSenSlope(times: ArrayLike<number>, values: ArrayLike<number>, n: number, scratch: Float64Array = new Float64Array((n * (n - 1)) / 2)): number {
  let count = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dt = times[j] - times[i];
      if (dt > 0) scratch[count++] = (values[j] - values[i]) / dt;
    }
  }
  if (count === 0) return 0;
  const slopes = scratch.subarray(0, count).sort();
  const middle = count >> 1;
  return count % 2 === 1 ? slopes[middle] : (slopes[middle - 1] + slopes[middle]) / 2;
}

export interface RssGrowthOptions {
  /** Span of rss history the slope covers. @defaultValue 60_000 */
  windowMs?: number;
  /** Points in the window before a slope is reported. @defaultValue 10 */
  minPoints?: number;
  /**
   * Points the estimator uses, evenly spaced over the window (first and last included): bounds the
   * work per instance to k(k−1)/2 slopes whatever the sampling rate. @defaultValue 16
   */
  maxEstimatorPoints?: number;
  /** Points kept per instance; older ones go first even inside the window. @defaultValue 128 */
  maxStoredPoints?: number;
}

interface Track {
  instance: MetricInstance;
  /** Ring buffers of monotonic seconds and rss bytes. */
  times: Float64Array;
  values: Float64Array;
  start: number;
  count: number;
  /** Points at the end of the window equal to the newest: all of them (count) when rss has not moved. */
  sameRun: number;
  seenRound: number;
}

/**
 * `rss_growth` (bytes/second) per process and cgroup: the Theil–Sen slope of its rss over a sliding
 * window, reported once the window holds `minPoints` readings. A single spiky reading does not fire
 * a rule; a steady leak does. Instances not fed in a round are forgotten (the process exited).
 */
export class RssGrowth {
  private readonly windowSeconds: number;
  private readonly minPoints: number;
  private readonly maxEstimatorPoints: number;
  private readonly maxStoredPoints: number;
  private readonly tracks = new Map<string, Track>();
  private readonly sampleTimes: Float64Array;
  private readonly sampleValues: Float64Array;
  private readonly scratch: Float64Array;
  private round = 0;

  constructor(options: RssGrowthOptions = {}) {
    this.windowSeconds = (options.windowMs ?? 60_000) / 1000;
    this.minPoints = Math.max(2, options.minPoints ?? 10);
    this.maxEstimatorPoints = Math.max(2, options.maxEstimatorPoints ?? 16);
    this.maxStoredPoints = Math.max(this.minPoints, options.maxStoredPoints ?? 128);
    this.sampleTimes = new Float64Array(this.maxEstimatorPoints);
    this.sampleValues = new Float64Array(this.maxEstimatorPoints);
    this.scratch = new Float64Array((this.maxEstimatorPoints * (this.maxEstimatorPoints - 1)) / 2);
  }

  /** Instances tracked. */
  get size(): number {
    return this.tracks.size;
  }

  /** Starts a round: instances not fed before {@link endRound} are forgotten. */
  beginRound(): void {
    this.round++;
  }

  /**
   * Adds one rss reading at `atMs` (monotonic ms) and returns the `rss_growth` reading stamped
   * `timeMs`, or undefined while the window holds fewer than `minPoints` readings.
   */
  add(instance: MetricInstance, bytes: number, atMs: number, timeMs: number): MetricReading | undefined {
    const key = instanceKey(instance);
    let track = this.tracks.get(key);
    if (!track) {
      track = { instance, times: new Float64Array(this.maxStoredPoints), values: new Float64Array(this.maxStoredPoints), start: 0, count: 0, sameRun: 0, seenRound: this.round };
      this.tracks.set(key, track);
    }
    track.instance = instance;
    track.seenRound = this.round;
    const seconds = atMs / 1000;
    const capacity = this.maxStoredPoints;
    if (track.count === capacity) {
      track.start = (track.start + 1) % capacity;
      track.count--;
    }
    const at = (track.start + track.count) % capacity;
    const newest = track.count > 0 ? track.values[(at + capacity - 1) % capacity] : Number.NaN;
    track.sameRun = newest === bytes ? track.sameRun + 1 : 1;
    track.times[at] = seconds;
    track.values[at] = bytes;
    track.count++;
    while (track.count > 0 && track.times[track.start] < seconds - this.windowSeconds) {
      track.start = (track.start + 1) % capacity;
      track.count--;
    }
    track.sameRun = Math.min(track.sameRun, track.count);
    if (track.count < this.minPoints) return undefined;
    // Most processes' rss does not move at all: a flat window has no slope to estimate.
    return { metric: 'rss_growth', instance, value: track.sameRun === track.count ? 0 : this.slope(track), timeMs };
  }

  /** Forgets instances not fed since {@link beginRound}. */
  endRound(): void {
    // forEach, not `for (const [key, track] of …)`: the entries iterator makes a pair per instance.
    this.tracks.forEach((track, key, tracks) => {
      if (track.seenRound !== this.round) tracks.delete(key);
    });
  }

  // Theil–Sen over at most maxEstimatorPoints points picked evenly from the window.
  private slope(track: Track): number {
    const n = Math.min(track.count, this.maxEstimatorPoints);
    const capacity = this.maxStoredPoints;
    let same = true;
    for (let i = 0; i < n; i++) {
      const index = n === track.count ? i : Math.round((i * (track.count - 1)) / (n - 1));
      const at = (track.start + index) % capacity;
      this.sampleTimes[i] = track.times[at];
      this.sampleValues[i] = track.values[at];
      if (this.sampleValues[i] !== this.sampleValues[0]) same = false;
    }
    // Most processes' rss does not move at all: no need for pairwise slopes.
    if (same) return 0;
    return theilSenSlope(this.sampleTimes, this.sampleValues, n, this.scratch);
  }
}
