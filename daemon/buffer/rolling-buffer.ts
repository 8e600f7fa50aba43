import type { SampleSink } from '../profile/batch-ingest.js';
import type { SampleSource, StackTables } from '../profile/sample-source.js';
import { MemoryBudget } from './memory-budget.js';
import type { MemoryConsumer } from '../model/memory-consumer.js';

/** Bytes of one sample in a chunk: time f64 + stack id u32 + tid u32 (+ a weight f32 in chunks that need one). */
export const BYTES_PER_SAMPLE = 16;
const BYTES_PER_WEIGHT = 4;
/** Entries no stack uses are kept this long, so a process met at its exec can get its first samples. */
const PROCESS_GRACE_NS = 30e9;

export interface RollingBufferOptions {
  /** Keep this much history (ns), measured back from the newest sample. */
  retainNs: number;
  /** Upper bound on samples, stacks and process snapshots together (bytes). */
  maxBytes: number;
  /** Samples per chunk, the unit of eviction. @defaultValue 4096 */
  chunkSamples?: number;
  /**
   * The daemon's one memory budget, shared with the metric history and the rule engine; the
   * buffer and the process table join it. @defaultValue a budget of `maxBytes` of their own
   */
  budget?: MemoryBudget;
  /** Converts sample times (monotonic ns) to wall-clock ms, for the budget's ages. @defaultValue ns / 1e6 */
  monotonicToWallMs?: (ns: number) => number;
}

export interface RollingBufferStats {
  /** Samples held. */
  samples: number;
  /** Newest minus oldest sample time held (ns). */
  spanNs: number;
  /** Estimated bytes held: sample chunks, the stack and thread-name tables, process snapshots. */
  bytes: number;
  /** Of which the sample chunks (allocated, including the unfilled rest of the newest). */
  sampleBytes: number;
  maxBytes: number;
  /** Samples evicted because they aged past `retain`. */
  expiredSamples: number;
  /** Samples evicted before `retain` to stay under `maxBytes`: data lost to the memory cap. */
  evictedEarlySamples: number;
  /** Samples refused because everything held was pinned by captures and the cap was reached. */
  droppedSamples: number;
  /** Active pins (captures in progress). */
  pins: number;
}

/** Keeps a time window from being evicted while a capture needs it. */
export interface Pin {
  readonly fromNs: number;
  readonly toNs: number;
  release(): void;
}

class SampleChunk {
  readonly timeNs: Float64Array;
  readonly stack: Uint32Array;
  readonly tid: Uint32Array;
  /** Each sample's weight, allocated when the first sample weighing other than 1 (not a CPU sample) arrives. */
  weight: Float32Array | undefined;
  length = 0;
  firstNs = Infinity;
  lastNs = -Infinity;
  pins = 0;

  constructor(readonly capacity: number) {
    this.timeNs = new Float64Array(capacity);
    this.stack = new Uint32Array(capacity);
    this.tid = new Uint32Array(capacity);
  }

  get full(): boolean {
    return this.length === this.capacity;
  }

  get bytes(): number {
    return this.capacity * BYTES_PER_SAMPLE + (this.weight ? this.capacity * BYTES_PER_WEIGHT : 0);
  }

  overlaps(fromNs: number, toNs: number): boolean {
    return this.length > 0 && this.firstNs < toNs && this.lastNs >= fromNs;
  }
}

/**
 * The daemon's memory of the last minutes: samples in fixed-size chunks, oldest first. A chunk
 * goes when its newest sample is older than `retain`, or earlier when the total passes
 * `maxBytes` — unless a capture has pinned it. Evicting a sample releases its stack, so the stack,
 * thread-name and process tables shrink with the window.
 */
export class RollingBuffer implements SampleSink, SampleSource, MemoryConsumer {
  readonly memoryName = 'samples';
  private readonly chunks: SampleChunk[] = [];
  /** Each active pin and the chunks it holds (chunks created while it is active join it). */
  private readonly activePins = new Map<Pin, Set<SampleChunk>>();
  private readonly chunkSamples: number;
  private heldSamples = 0;
  private expired = 0;
  private evictedEarly = 0;
  private dropped = 0;
  private newestNs = -Infinity;
  private readonly budget: MemoryBudget;
  private readonly toWallMs: (ns: number) => number;

  constructor(
    private readonly tables: StackTables,
    private readonly options: RollingBufferOptions,
  ) {
    this.chunkSamples = options.chunkSamples ?? 4096;
    if (options.maxBytes < this.chunkSamples * BYTES_PER_SAMPLE * 2) {
      throw new RangeError(`buffer.max_memory of ${options.maxBytes} bytes is too small: it must hold at least two chunks (${this.chunkSamples * BYTES_PER_SAMPLE * 2} bytes)`);
    }
    this.toWallMs = options.monotonicToWallMs ?? ((ns) => ns / 1e6);
    this.budget = options.budget ?? new MemoryBudget(options.maxBytes);
    this.budget.add(this);
    this.budget.add(tables.processes);
  }

  append(timeNs: number, stackId: number, tid: number, weight = 1): void {
    let head = this.chunks[this.chunks.length - 1];
    if (!head || head.full) {
      this.enforceBounds();
      if (!this.budget.makeRoom(this.chunkSamples * BYTES_PER_SAMPLE)) {
        // Everything held is pinned by captures (or live) and there is no room: refuse, and say so.
        this.tables.stacks.release(stackId);
        this.dropped++;
        return;
      }
      head = new SampleChunk(this.chunkSamples);
      for (const [pin, held] of this.activePins) {
        if (pin.toNs <= timeNs) continue;
        head.pins++;
        held.add(head);
      }
      this.chunks.push(head);
    }
    const at = head.length++;
    head.timeNs[at] = timeNs;
    head.stack[at] = stackId;
    head.tid[at] = tid;
    if (weight !== 1 && !head.weight) head.weight = new Float32Array(head.capacity).fill(1);
    if (head.weight) head.weight[at] = weight;
    if (timeNs < head.firstNs) head.firstNs = timeNs;
    if (timeNs > head.lastNs) head.lastNs = timeNs;
    if (timeNs > this.newestNs) this.newestNs = timeNs;
    this.heldSamples++;
  }

  /**
   * Applies `retain` and the memory budget now; the ingest path calls it once per batch and per
   * new chunk. Over budget, the oldest thing held goes first, whoever holds it: a chunk of samples,
   * or a process met at its exec and never sampled (one that is sampled later is simply met again).
   */
  enforceBounds(): void {
    const oldestKept = this.newestNs - this.options.retainNs;
    for (let i = 0; i < this.chunks.length - 1; i++) {
      const chunk = this.chunks[i];
      if (chunk.pins > 0 || chunk.lastNs >= oldestKept) continue;
      this.evict(i--, false);
    }
    this.tables.processes.prune(this.newestNs - PROCESS_GRACE_NS);
    this.budget.makeRoom();
  }

  // The memory budget's view (memory-budget.ts): chunks, oldest first, unless pinned.

  memoryBytes(): number {
    return this.sampleBytes + this.tables.stacks.bytes + this.tables.comms.bytes;
  }

  /** Bytes of the sample chunks (allocated, including the unfilled rest of the newest). */
  private get sampleBytes(): number {
    let bytes = 0;
    for (const chunk of this.chunks) bytes += chunk.bytes;
    return bytes;
  }

  oldestEvictableMs(): number | undefined {
    const victim = this.evictableChunk();
    return victim < 0 ? undefined : this.toWallMs(this.chunks[victim].lastNs);
  }

  evictOldest(): void {
    const victim = this.evictableChunk();
    if (victim >= 0) this.evict(victim, true);
  }

  /**
   * Keeps [fromNs, toNs) from eviction until released, including samples that arrive later. The
   * capture path pins `[t - before, t + after]` the moment a rule fires.
   */
  pin(fromNs: number, toNs: number): Pin {
    const held = new Set<SampleChunk>();
    const pin: Pin = {
      fromNs,
      toNs,
      release: () => {
        if (!this.activePins.delete(pin)) return;
        for (const chunk of held) chunk.pins--;
      },
    };
    const head = this.chunks[this.chunks.length - 1];
    for (const chunk of this.chunks) {
      // The chunk being filled takes the window's later samples too.
      if (chunk.overlaps(fromNs, toNs) || (chunk === head && toNs > this.newestNs)) {
        chunk.pins++;
        held.add(chunk);
      }
    }
    this.activePins.set(pin, held);
    return pin;
  }

  forEachSample(fromNs: number, toNs: number, visit: (timeNs: number, stackId: number, tid: number, weight: number) => void): void {
    for (const chunk of this.chunks) {
      if (!chunk.overlaps(fromNs, toNs)) continue;
      const weight = chunk.weight;
      for (let i = 0; i < chunk.length; i++) {
        const time = chunk.timeNs[i];
        if (time >= fromNs && time < toNs) visit(time, chunk.stack[i], chunk.tid[i], weight ? weight[i] : 1);
      }
    }
  }

  /** Time of the newest sample held (monotonic ns), or -Infinity when empty. */
  get newestSampleNs(): number {
    return this.newestNs;
  }

  /** Estimated bytes held: samples, stacks, thread names and processes. */
  get bytes(): number {
    return this.memoryBytes() + this.tables.processes.bytes;
  }

  stats(): RollingBufferStats {
    const oldest = this.chunks.find((chunk) => chunk.length > 0);
    return {
      samples: this.heldSamples,
      spanNs: oldest ? this.newestNs - oldest.firstNs : 0,
      bytes: this.bytes,
      sampleBytes: this.sampleBytes,
      maxBytes: this.budget.maxBytes,
      expiredSamples: this.expired,
      evictedEarlySamples: this.evictedEarly,
      droppedSamples: this.dropped,
      pins: this.activePins.size,
    };
  }

  /**
   * Index of the oldest chunk that may go (not pinned), or -1. Under memory pressure even the
   * chunk being filled may go: the next sample starts a new one.
   */
  private evictableChunk(): number {
    for (let i = 0; i < this.chunks.length; i++) if (this.chunks[i].pins === 0) return i;
    return -1;
  }

  private evict(index: number, early: boolean): void {
    const [chunk] = this.chunks.splice(index, 1);
    const { stacks } = this.tables;
    for (let i = 0; i < chunk.length; i++) stacks.release(chunk.stack[i]);
    this.heldSamples -= chunk.length;
    if (early) this.evictedEarly += chunk.length;
    else this.expired += chunk.length;
  }
}
