import { stringBytes } from '../model/string-bytes.js';
import { instanceKey, METRIC_NAMES, type MetricInstance, type MetricName, type MetricReading } from '../model/metrics.js';
import type { MemoryConsumer } from '../model/memory-consumer.js';

/** One point of a series. */
export interface MetricPoint {
  timeMs: number;
  value: number;
}

export interface MetricHistoryOptions {
  /** How far back points are kept. @defaultValue 600_000 (10 min) */
  retentionMs?: number;
  /**
   * Instances (process, cgroup, system) kept. Past it, the instance updated longest ago goes first;
   * when every kept instance was updated at the newest time (a host with more live instances than
   * this), the new one is not recorded and counted in `rejected`, rather than evicting a live one
   * and thrashing every round. A process whose values hold takes ~0.5 KiB. @defaultValue 8192
   */
  maxInstances?: number;
  /**
   * Points kept per series. Sized for one point per second over the retention; recording faster
   * keeps a shorter span. @defaultValue ceil(retentionMs / 1000) + 10
   */
  maxPointsPerSeries?: number;
}

// A value that holds takes two points (see SeriesRing.push): most series never grow past this.
const INITIAL_CAPACITY = 4;
const MAX_OFFSET_MS = 0xffff_ffff;

/** Each metric's slot in an instance's series: an array index costs less than a Map lookup per reading. */
const METRIC_SLOT = Object.fromEntries(METRIC_NAMES.map((name, slot) => [name, slot])) as Record<MetricName, number>;

// A ring of (time, value). Times are Uint32 ms offsets from `baseMs`, rebased when they outgrow it:
// 12 bytes a point instead of 16.
class SeriesRing {
  baseMs: number;
  offsets = new Uint32Array(INITIAL_CAPACITY);
  values = new Float64Array(INITIAL_CAPACITY);
  start = 0;
  count = 0;

  constructor(firstMs: number) {
    this.baseMs = firstMs;
  }

  timeAt(i: number): number {
    return this.baseMs + this.offsets[(this.start + i) % this.offsets.length];
  }

  valueAt(i: number): number {
    return this.values[(this.start + i) % this.values.length];
  }

  /** Bytes of the point buffers: 12 a point of capacity (a plain field: typed arrays' byteLength getters cost more than a push). */
  bytes = INITIAL_CAPACITY * 12;

  /** Time of the newest point; -Infinity when empty. */
  lastTime(): number {
    return this.count > 0 ? this.timeAt(this.count - 1) : Number.NEGATIVE_INFINITY;
  }

  /**
   * Appends a point. A value equal to the two before it extends their run instead: the newest
   * point's time moves, so a value that holds (the RSS of an idle process, a CPU of 0) takes two
   * points however long it holds, and its line is the same.
   */
  push(timeMs: number, value: number, maxPoints: number, oldestMs: number): void {
    this.dropBefore(oldestMs);
    if (this.count > 0 && timeMs < this.timeAt(this.count - 1)) return; // out of order: keep the series sorted
    if (timeMs < this.baseMs || timeMs - this.baseMs > MAX_OFFSET_MS) this.rebase(timeMs);
    if (this.count >= 2 && this.valueAt(this.count - 1) === value && this.valueAt(this.count - 2) === value) {
      this.offsets[(this.start + this.count - 1) % this.offsets.length] = timeMs - this.baseMs;
      return;
    }
    if (this.count === maxPoints) this.dropFirst();
    if (this.count === this.offsets.length) this.grow(maxPoints);
    const at = (this.start + this.count) % this.offsets.length;
    this.offsets[at] = timeMs - this.baseMs;
    this.values[at] = value;
    this.count++;
  }

  // Drops points older than `oldestMs`; a run that began before it and still holds after it is cut
  // at `oldestMs` rather than dropped, so the value it held stays shown from there on.
  private dropBefore(oldestMs: number): void {
    while (this.count > 0 && this.timeAt(0) < oldestMs) {
      if (this.count >= 2 && this.valueAt(1) === this.valueAt(0) && this.timeAt(1) >= oldestMs) {
        this.offsets[this.start] = oldestMs - this.baseMs;
        return;
      }
      this.dropFirst();
    }
  }

  private dropFirst(): void {
    this.start = (this.start + 1) % this.offsets.length;
    this.count--;
  }

  private grow(maxPoints: number): void {
    const capacity = Math.min(this.offsets.length * 2, maxPoints);
    const offsets = new Uint32Array(capacity);
    const values = new Float64Array(capacity);
    for (let i = 0; i < this.count; i++) {
      offsets[i] = this.offsets[(this.start + i) % this.offsets.length];
      values[i] = this.values[(this.start + i) % this.values.length];
    }
    this.offsets = offsets;
    this.values = values;
    this.start = 0;
    this.bytes = capacity * 12;
  }

  private rebase(timeMs: number): void {
    const newBase = this.count > 0 ? Math.min(this.timeAt(0), timeMs) : timeMs;
    for (let i = 0; i < this.count; i++) {
      const at = (this.start + i) % this.offsets.length;
      this.offsets[at] = this.baseMs + this.offsets[at] - newBase;
    }
    this.baseMs = newBase;
  }
}

interface InstanceHistory {
  instance: MetricInstance;
  lastUpdateMs: number;
  /** By METRIC_SLOT; undefined for a metric never recorded for this instance. */
  series: (SeriesRing | undefined)[];
  /** What this instance holds: its point buffers, its instance's strings, the objects around them. */
  bytes: number;
}

/** The objects of one instance (history, maps, key) and of one series ring beyond their buffers. */
const INSTANCE_OVERHEAD_BYTES = 240;
const SERIES_OVERHEAD_BYTES = 120;

/** Bytes of an instance's own strings: a process's comm and command line, a cgroup's path. */
function instanceStringBytes(instance: MetricInstance): number {
  switch (instance.kind) {
    case 'system':
      return 0;
    case 'process':
      return stringBytes(instance.comm) + stringBytes(instance.cmdline);
    case 'cgroup':
      return stringBytes(instance.path) + stringBytes(instance.unit ?? '');
  }
}


/** Counters of a {@link MetricHistory}. */
export interface MetricHistoryStats {
  instances: number;
  series: number;
  points: number;
  /** Bytes held: point buffers, instance strings and the objects around them. */
  bytes: number;
  /** Instances dropped to make room (updated longest ago). */
  evicted: number;
  /** New instances not recorded because every kept instance was live (once per instance per round). */
  rejected: number;
}

/**
 * The recent values of every metric, per instance: what a capture reads to show the curve that
 * fired. Bounded by time (`retentionMs`), by points per series and by instance count, so process
 * churn cannot grow it without bound; its bytes count against the daemon's memory budget, which
 * takes the instance updated longest ago first (daemon/buffer/memory-budget.ts).
 *
 * An instance that *holds* (a process whose values all repeat, given no readings: see
 * ProcessCpuRssOptions.omitRepeats) is not recorded round by round: {@link hold} sets it aside, and
 * its series are taken as recorded with their last values up to {@link holdThrough}'s time. Its
 * points are put in when it is read, recorded again or {@link release}d: the series are the ones
 * recording every round would have made.
 */
export class MetricHistory implements MemoryConsumer {
  readonly memoryName = 'metric_history';
  private totalBytes = 0;
  private readonly retentionMs: number;
  private readonly maxInstances: number;
  private readonly maxPointsPerSeries: number;
  // Insertion order = least recently updated first: an update moves the instance to the end.
  private readonly instances = new Map<string, InstanceHistory>();
  /** Instances that hold (see the class comment), in the order they began; not in `instances`. */
  private readonly holding = new Map<string, InstanceHistory>();
  /** By METRIC_SLOT: the time up to which a holding instance's series of that metric hold. */
  private readonly heldThroughMs = new Float64Array(METRIC_NAMES.length).fill(Number.NEGATIVE_INFINITY);
  /** Holding instances the memory budget took: their collector must give their readings again. */
  private droppedHolders: MetricInstance[] = [];
  private evicted = 0;
  private rejected = 0;
  /** The time of the round expire() last ran for. */
  private expiredAtMs = Number.NaN;
  /** The time of the round in which every instance held was found updated (nothing evictable). */
  private fullAtMs = Number.NaN;

  constructor(options: MetricHistoryOptions = {}) {
    this.retentionMs = options.retentionMs ?? 600_000;
    this.maxInstances = Math.max(1, options.maxInstances ?? 8192);
    this.maxPointsPerSeries = Math.max(2, options.maxPointsPerSeries ?? Math.ceil(this.retentionMs / 1000) + 10);
  }

  /** Records every reading. */
  record(readings: readonly MetricReading[]): void {
    // A collector reports an instance's metrics one after another (a process's cpu, then its
    // rss): the instance found for one reading serves the next ones of the same instance object.
    let instance: MetricInstance | undefined;
    let history: InstanceHistory | undefined;
    let timeMs = Number.NaN;
    for (const reading of readings) {
      if (reading.instance !== instance || reading.timeMs !== timeMs) {
        instance = reading.instance;
        timeMs = reading.timeMs;
        history = this.instanceFor(instance, timeMs);
      }
      if (history) this.push(history, reading.metric, timeMs, reading.value);
    }
  }

  /** Records one value. */
  add(metric: MetricName, instance: MetricInstance, timeMs: number, value: number): void {
    const history = this.instanceFor(instance, timeMs);
    if (history) this.push(history, metric, timeMs, value);
  }

  /**
   * `instances` hold from now on: their series keep their last values through every later
   * {@link holdThrough} until they are recorded again or released. Returns those it has no history
   * of (not recorded for want of room, or taken by the memory budget): recording every round would
   * try them again each round, so their readings must be given again.
   */
  hold(instances: readonly MetricInstance[]): MetricInstance[] {
    const unknown: MetricInstance[] = [];
    for (const instance of instances) {
      const key = instanceKey(instance);
      const history = this.instances.get(key);
      if (!history) {
        unknown.push(instance);
        continue;
      }
      this.instances.delete(key);
      this.holding.set(key, history);
    }
    return unknown;
  }

  /** Holding instances the memory budget took since the last call: their readings must be given again. */
  takeDroppedHolders(): MetricInstance[] {
    const dropped = this.droppedHolders;
    if (dropped.length > 0) this.droppedHolders = [];
    return dropped;
  }

  /** The holding instances' series of `metrics` (all of them when not given) hold through `timeMs`. */
  holdThrough(timeMs: number, metrics: readonly MetricName[] = METRIC_NAMES): void {
    for (const metric of metrics) this.heldThroughMs[METRIC_SLOT[metric]] = timeMs;
  }

  /** `instances` held until they exited: their series end at the last {@link holdThrough}. */
  release(instances: readonly MetricInstance[]): void {
    for (const instance of instances) {
      const key = instanceKey(instance);
      const history = this.holding.get(key);
      if (history) this.unhold(key, history);
    }
  }

  // A holding instance back among the others: its held points put in, updated at the time they end.
  private unhold(key: string, history: InstanceHistory): void {
    this.materialize(history);
    this.holding.delete(key);
    this.instances.set(key, history);
    for (const ring of history.series) if (ring) history.lastUpdateMs = Math.max(history.lastUpdateMs, ring.lastTime());
  }

  // Each series of a holding instance, as recorded with its last value up to its metric's held
  // time. A hold longer than the retention first puts the value at the retention's edge: recording
  // every round would have kept the run from there, where one push would drop all of it.
  private materialize(history: InstanceHistory): void {
    for (let slot = 0; slot < history.series.length; slot++) {
      const ring = history.series[slot];
      if (!ring || ring.count === 0 || !(this.heldThroughMs[slot] > ring.lastTime())) continue;
      const before = ring.bytes;
      const timeMs = this.heldThroughMs[slot];
      const value = ring.valueAt(ring.count - 1);
      const edgeMs = timeMs - this.retentionMs;
      if (ring.lastTime() < edgeMs) ring.push(edgeMs, value, this.maxPointsPerSeries, edgeMs - this.retentionMs);
      ring.push(timeMs, value, this.maxPointsPerSeries, edgeMs);
      if (ring.bytes !== before) this.resize(history, ring.bytes - before);
    }
  }

  // The history of `instance`, updated at `timeMs` (made if new); undefined when it is new and no
  // room can be made (counted in `rejected`).
  private instanceFor(instance: MetricInstance, timeMs: number): InstanceHistory | undefined {
    const key = instanceKey(instance);
    let history = this.instances.get(key);
    if (!history) {
      history = this.holding.get(key);
      if (history) this.unhold(key, history);
    }
    if (history) {
      if (history.lastUpdateMs !== timeMs) {
        this.instances.delete(key);
        this.instances.set(key, history);
        history.lastUpdateMs = Math.max(history.lastUpdateMs, timeMs);
      }
      if (history.instance !== instance) {
        this.resize(history, instanceStringBytes(instance) - instanceStringBytes(history.instance));
        history.instance = instance;
      }
    } else {
      // Once per round: a round of 5,000 new processes need not walk the instances 5,000 times.
      if (timeMs !== this.expiredAtMs) {
        this.expire(timeMs);
        this.expiredAtMs = timeMs;
      }
      // Full of instances all updated this round: nothing can become evictable before the next.
      if (this.instances.size + this.holding.size >= this.maxInstances && (this.fullAtMs === timeMs || !this.evictIfOlderThan(timeMs))) {
        this.fullAtMs = timeMs;
        this.rejected++;
        return undefined;
      }
      history = { instance, lastUpdateMs: timeMs, series: [], bytes: 0 };
      this.resize(history, INSTANCE_OVERHEAD_BYTES + stringBytes(key) + instanceStringBytes(instance));
      this.instances.set(key, history);
    }
    return history;
  }

  private push(history: InstanceHistory, metric: MetricName, timeMs: number, value: number): void {
    const slot = METRIC_SLOT[metric];
    let ring = history.series[slot];
    if (!ring) {
      ring = new SeriesRing(timeMs);
      history.series[slot] = ring;
      this.resize(history, SERIES_OVERHEAD_BYTES + ring.bytes);
    }
    const before = ring.bytes;
    ring.push(timeMs, value, this.maxPointsPerSeries, timeMs - this.retentionMs);
    if (ring.bytes !== before) this.resize(history, ring.bytes - before);
  }

  // The memory budget's view: instances, updated longest ago first.

  memoryBytes(): number {
    return this.totalBytes;
  }

  // Holding instances are live (updated at every round, in effect): they go only when no other is left.
  oldestEvictableMs(): number | undefined {
    const first = this.instances.values().next();
    if (!first.done) return first.value.lastUpdateMs;
    return this.holding.size > 0 ? Math.max(...this.heldThroughMs) : undefined;
  }

  evictOldest(): void {
    const first = this.instances.keys().next();
    const key = first.done ? this.holding.keys().next().value : first.value;
    if (key === undefined) return;
    const holder = this.holding.get(key);
    if (holder) this.droppedHolders.push(holder.instance);
    this.remove(key);
    this.evicted++;
  }

  /**
   * Points of one series with `fromMs <= timeMs <= toMs`, oldest first. Where a run of one value
   * (see SeriesRing.push) spans `fromMs` or `toMs`, the points include it there too, so a window
   * inside a long run still shows the value it held.
   */
  series(metric: MetricName, key: string, fromMs: number, toMs: number): MetricPoint[] {
    const held = this.holding.get(key);
    if (held) this.materialize(held);
    const ring = (held ?? this.instances.get(key))?.series[METRIC_SLOT[metric]];
    const points: MetricPoint[] = [];
    if (!ring) return points;
    for (let i = 0; i < ring.count; i++) {
      const timeMs = ring.timeAt(i);
      if (timeMs < fromMs) {
        if (i + 1 < ring.count && ring.timeAt(i + 1) > fromMs && ring.valueAt(i + 1) === ring.valueAt(i)) points.push({ timeMs: fromMs, value: ring.valueAt(i) });
        continue;
      }
      if (timeMs > toMs) {
        const last = points[points.length - 1];
        if (i > 0 && ring.valueAt(i - 1) === ring.valueAt(i) && ring.timeAt(i - 1) < toMs && last?.timeMs !== toMs) points.push({ timeMs: toMs, value: ring.valueAt(i) });
        break;
      }
      points.push({ timeMs, value: ring.valueAt(i) });
    }
    return points;
  }

  /** The instance last recorded under `key` (its comm/cmdline as of its last update). */
  instance(key: string): MetricInstance | undefined {
    return (this.instances.get(key) ?? this.holding.get(key))?.instance;
  }

  /** Keys of the instances held, least recently updated first (holding ones, live, last). */
  *keys(): IterableIterator<string> {
    yield* this.instances.keys();
    yield* this.holding.keys();
  }

  stats(): MetricHistoryStats {
    let series = 0;
    let points = 0;
    for (const history of [...this.instances.values(), ...this.holding.values()]) {
      for (const ring of history.series) {
        if (!ring) continue;
        series++;
        points += ring.count;
      }
    }
    return { instances: this.instances.size + this.holding.size, series, points, bytes: this.totalBytes, evicted: this.evicted, rejected: this.rejected };
  }

  // Drops instances whose newest point is past the retention: nothing of theirs is left to show.
  private expire(nowMs: number): void {
    for (const [key, history] of this.instances) {
      if (history.lastUpdateMs >= nowMs - this.retentionMs) break;
      this.remove(key);
    }
  }

  private evictIfOlderThan(nowMs: number): boolean {
    const first = this.instances.values().next();
    if (first.done || first.value.lastUpdateMs >= nowMs) return false;
    this.evictOldest();
    return true;
  }

  private remove(key: string): void {
    const history = this.instances.get(key) ?? this.holding.get(key);
    if (!history) return;
    this.totalBytes -= history.bytes;
    this.instances.delete(key);
    this.holding.delete(key);
  }

  private resize(history: InstanceHistory, delta: number): void {
    history.bytes += delta;
    this.totalBytes += delta;
  }
}
