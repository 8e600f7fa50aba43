import type { ProcessSnapshot } from '../symbols/proc-maps.js';
import type { MemoryConsumer } from '../model/memory-consumer.js';

/**
 * Every process the sampler has seen, keyed by pid *and* start time so a reused pid never mixes two
 * processes. A process is snapshotted (command line, executable mappings) the moment it is first
 * seen, so it can still be symbolized after it exits.
 *
 * Entries are reference counted by the stacks that use them. An entry no stack uses is freed by
 * {@link ProcessTable.prune} once it has gone unused long enough (a process met through its exec
 * event gets that long for its first samples), or earlier, oldest first, when the daemon's memory
 * budget needs the room, so a fork storm cannot grow the table without bound.
 */
export interface ProcessEntry {
  /** Index in the table; what stacks refer to. Reused after the entry is freed. */
  id: number;
  pid: number;
  /** Start time of the thread group leader, ns on the boot-time clock (from the BPF record). */
  startTimeNs: number;
  /** comm of the first sampled thread. */
  comm: string;
  /** Monotonic ns of the record that created the entry. */
  createdNs: number;
  /** Monotonic ns of the newest record of this process. */
  lastSeenNs: number;
  /**
   * Filled in by the snapshot hook (through {@link ProcessTable.setSnapshot}); absent for the idle
   * task, for processes gone before it ran, and while it is being read.
   */
  snapshot?: ProcessSnapshot;
  /**
   * Set for a process met through its exec event: the snapshot taken then may predate the dynamic
   * loader mapping the libraries, so the first sample takes it again.
   */
  snapshotAgain?: boolean;
}

/** Takes (or retakes) a process's snapshot. */
export type NewProcessHook = (entry: ProcessEntry) => void;

/** An entry's own bytes beyond its snapshot: the object, its comm and the maps that index it. */
const ENTRY_OVERHEAD_BYTES = 200;

export class ProcessTable implements MemoryConsumer {
  readonly memoryName = 'processes';
  private readonly byPid = new Map<number, ProcessEntry>();
  private readonly entries: Array<ProcessEntry | undefined> = [];
  private readonly refs: number[] = [];
  private readonly freeIds: number[] = [];
  /** Entries no stack uses, in the order they became unused: what prune and the budget free. */
  private readonly unreferenced = new Set<ProcessEntry>();
  private snapshotBytes = 0;

  constructor(
    private readonly onNewProcess?: NewProcessHook,
    /** Converts the records' monotonic ns to wall-clock ms, for the memory budget's ages. */
    private readonly monotonicToWallMs: (ns: number) => number = (ns) => ns / 1e6,
  ) {}

  /** Live entries. */
  get size(): number {
    return this.entries.length - this.freeIds.length;
  }

  /** Bytes held by the live entries: their snapshots (real sizes, see proc-maps.ts) and themselves. */
  get bytes(): number {
    return this.snapshotBytes + this.size * ENTRY_OVERHEAD_BYTES;
  }

  /**
   * Gives `entry` its snapshot, counting its size. Ignored when the entry was freed meanwhile (a
   * snapshot arrives after the reader read it, and a short-lived process may be gone by then).
   */
  setSnapshot(entry: ProcessEntry, snapshot: ProcessSnapshot): void {
    if (this.entries[entry.id] !== entry) return;
    this.snapshotBytes += snapshot.bytes - (entry.snapshot?.bytes ?? 0);
    entry.snapshot = snapshot;
  }

  /** The entry with this id; ids come from stacks, which keep their process alive. */
  get(id: number): ProcessEntry {
    const entry = this.entries[id];
    if (!entry) throw new Error(`ProcessTable: no process with id ${id}`);
    return entry;
  }

  /** Live entries, in id order. */
  all(): ProcessEntry[] {
    return this.entries.filter((entry): entry is ProcessEntry => entry !== undefined);
  }

  /** The id of the process (pid, start time); creates and snapshots it when new. */
  lookup(pid: number, startTimeNs: number, comm: () => string, nowNs = 0): number {
    const current = this.byPid.get(pid);
    if (current !== undefined && current.startTimeNs === startTimeNs) {
      current.lastSeenNs = nowNs;
      if (current.snapshotAgain) {
        current.snapshotAgain = false;
        this.onNewProcess?.(current);
      }
      return current.id;
    }
    return this.add(pid, startTimeNs, comm(), nowNs);
  }

  /**
   * The process replaced its image (execve): the same pid and start time now run other code, so
   * it becomes a new entry with a fresh snapshot, and samples from before keep the old one.
   */
  exec(pid: number, startTimeNs: number, comm: string, nowNs = 0): number {
    const id = this.add(pid, startTimeNs, comm, nowNs);
    this.get(id).snapshotAgain = true;
    return id;
  }

  /** A stack that refers to the process was created. */
  retain(id: number): void {
    if (this.refs[id]++ === 0) this.unreferenced.delete(this.entries[id] as ProcessEntry);
  }

  /** A stack that referred to the process was freed. */
  release(id: number): void {
    if (--this.refs[id] === 0) this.unreferenced.add(this.entries[id] as ProcessEntry);
  }

  /**
   * Frees entries no stack refers to that were last seen before `olderThanNs` (monotonic).
   * Returns how many were freed.
   */
  prune(olderThanNs: number): number {
    let freed = 0;
    for (const entry of this.unreferenced) {
      if (entry.lastSeenNs >= olderThanNs) continue;
      this.free(entry);
      freed++;
    }
    return freed;
  }

  // The memory budget's view (daemon/buffer/memory-budget.ts): unused entries, oldest first.

  memoryBytes(): number {
    return this.bytes;
  }

  oldestEvictableMs(): number | undefined {
    const first = this.unreferenced.values().next();
    return first.done ? undefined : this.monotonicToWallMs(first.value.lastSeenNs);
  }

  evictOldest(): void {
    const first = this.unreferenced.values().next();
    if (!first.done) this.free(first.value);
  }

  private free(entry: ProcessEntry): void {
    this.unreferenced.delete(entry);
    if (this.byPid.get(entry.pid) === entry) this.byPid.delete(entry.pid);
    this.snapshotBytes -= entry.snapshot?.bytes ?? 0;
    this.entries[entry.id] = undefined;
    this.freeIds.push(entry.id);
  }

  private add(pid: number, startTimeNs: number, comm: string, nowNs: number): number {
    const id = this.freeIds.pop() ?? this.entries.length;
    const entry: ProcessEntry = { id, pid, startTimeNs, comm, createdNs: nowNs, lastSeenNs: nowNs };
    this.entries[id] = entry;
    this.refs[id] = 0;
    this.unreferenced.add(entry);
    this.byPid.set(pid, entry);
    this.onNewProcess?.(entry);
    return id;
  }
}
