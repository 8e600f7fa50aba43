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
  /** The round of its newest point. */
  seenRound: number;
  /** Its process holds (see {@link RssGrowth.hold}): fed its newest value in every round since seenRound. */
  held: boolean;
}

/**
 * `rss_growth` (bytes/second) per process and cgroup: the Theil–Sen slope of its rss over a sliding
 * window, reported once the window holds `minPoints` readings. A single spiky reading does not fire
 * a rule; a steady leak does. Instances not fed in a round are forgotten (the process exited),
 * unless they hold: a process whose rss repeats and whose window is flat is not fed at all while it
 * holds ({@link hold}), and the points of the rounds it held are put in when it is fed again, so
 * its window is the one it would have had fed every round.
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
  /** Monotonic seconds of the last maxStoredPoints rounds, by round % maxStoredPoints: a held window's points. */
  private readonly roundSeconds: Float64Array;
  private lastFlat = false;

  constructor(options: RssGrowthOptions = {}) {
    this.windowSeconds = (options.windowMs ?? 60_000) / 1000;
    this.minPoints = Math.max(2, options.minPoints ?? 10);
    this.maxEstimatorPoints = Math.max(2, options.maxEstimatorPoints ?? 16);
    this.maxStoredPoints = Math.max(this.minPoints, options.maxStoredPoints ?? 128);
    this.sampleTimes = new Float64Array(this.maxEstimatorPoints);
    this.sampleValues = new Float64Array(this.maxEstimatorPoints);
    this.scratch = new Float64Array((this.maxEstimatorPoints * (this.maxEstimatorPoints - 1)) / 2);
    this.roundSeconds = new Float64Array(this.maxStoredPoints);
  }

  /** Instances tracked. */
  get size(): number {
    return this.tracks.size;
  }

  /**
   * Starts a round at `atMs` (monotonic ms, the time its readings are added at): instances neither
   * fed nor held before {@link endRound} are forgotten.
   */
  beginRound(atMs: number): void {
    this.round++;
    this.roundSeconds[this.round % this.maxStoredPoints] = atMs / 1000;
  }

  /**
   * Whether the window of the last {@link add} is flat and reported: while its rss repeats, its
   * reading repeats (0), so its process may hold.
   */
  get lastWindowFlat(): boolean {
    return this.lastFlat;
  }

  /**
   * `instances` hold from this round on: each is taken as fed its newest value every round until
   * it is fed again or {@link release}d. Only for instances whose last add left a flat window.
   */
  hold(instances: readonly MetricInstance[]): void {
    for (const instance of instances) {
      const track = this.tracks.get(instanceKey(instance));
      if (track) track.held = true;
    }
  }

  /** Forgets `instances`, which exited (held or not). */
  release(instances: readonly MetricInstance[]): void {
    for (const instance of instances) this.tracks.delete(instanceKey(instance));
  }

  /** Forgets every held window: a round failed to read them, so none was fed in it. */
  dropHeld(): void {
    this.tracks.forEach((track, key, tracks) => {
      if (track.held) tracks.delete(key);
    });
  }

  /**
   * Adds one rss reading at `atMs` (monotonic ms) and returns the `rss_growth` reading stamped
   * `timeMs`, or undefined while the window holds fewer than `minPoints` readings.
   */
  add(instance: MetricInstance, bytes: number, atMs: number, timeMs: number): MetricReading | undefined {
    const key = instanceKey(instance);
    let track = this.tracks.get(key);
    if (!track) {
      track = { instance, times: new Float64Array(this.maxStoredPoints), values: new Float64Array(this.maxStoredPoints), start: 0, count: 0, sameRun: 0, seenRound: this.round, held: false };
      this.tracks.set(key, track);
    }
    if (track.held) {
      // The rounds it held in, each a point of its newest value (the ring holds at most the last
      // maxStoredPoints; older ones would have been dropped by now anyway).
      track.held = false;
      const newest = track.values[(track.start + track.count - 1) % this.maxStoredPoints];
      for (let round = Math.max(track.seenRound + 1, this.round - this.maxStoredPoints + 1); round < this.round; round++) {
        this.append(track, this.roundSeconds[round % this.maxStoredPoints], newest);
      }
    }
    track.instance = instance;
    track.seenRound = this.round;
    const seconds = atMs / 1000;
    this.append(track, seconds, bytes);
    while (track.count > 0 && track.times[track.start] < seconds - this.windowSeconds) {
      track.start = (track.start + 1) % this.maxStoredPoints;
      track.count--;
    }
    track.sameRun = Math.min(track.sameRun, track.count);
    this.lastFlat = false;
    if (track.count < this.minPoints) return undefined;
    // Most processes' rss does not move at all: a flat window has no slope to estimate.
    this.lastFlat = track.sameRun === track.count;
    return { metric: 'rss_growth', instance, value: this.lastFlat ? 0 : this.slope(track), timeMs };
  }

  // One point at the end of the ring (the oldest goes when it is full).
  private append(track: Track, seconds: number, bytes: number): void {
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
  }

  /** Forgets instances not fed since {@link beginRound}. */
  endRound(): void {
    // forEach, not `for (const [key, track] of …)`: the entries iterator makes a pair per instance.
    this.tracks.forEach((track, key, tracks) => {
      if (track.seenRound !== this.round && !track.held) tracks.delete(key);
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
