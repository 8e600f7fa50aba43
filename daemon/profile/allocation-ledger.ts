import { allocationWeight } from '../model/allocation-sampling.js';
import type { SampleSource } from './sample-source.js';
import type { StackTable } from './stack-table.js';

/**
 * What the ingest tells about sampled allocations (bpf/allocations.h): a sample with its stack at
 * the allocator's entry, the address it returned, and the free of a sampled address.
 */
export interface AllocationEvents {
  /** A sampled allocation of `size` bytes by thread `tid` of `pid`; returns the bytes it stands for (its sample's weight). */
  sampled(pid: number, tid: number, stackId: number, size: number, timeNs: number): number;
  /** The address thread `tid`'s last sampled allocation returned (0: it failed); `untracked`: its free will not be seen. */
  returned(pid: number, tid: number, address: number, untracked: boolean): void;
  /** A sampled allocation of `pid`, at `address`, was freed. */
  freed(pid: number, address: number): void;
}

interface Outstanding {
  stackId: number;
  tid: number;
  timeNs: number;
  /** Bytes and allocations this sample stands for. */
  bytes: number;
  objects: number;
}

interface Pending extends Outstanding {
  pid: number;
}

/** Bytes one outstanding allocation costs here (map entry, object, numbers): for the memory figures. */
const BYTES_PER_ENTRY = 160;

export interface AllocationLedgerStats {
  /** Outstanding sampled allocations held, and the bytes and allocations they stand for. */
  outstanding: number;
  outstandingBytes: number;
  outstandingObjects: number;
  /** Processes with any. */
  processes: number;
  /** Results with no sampled allocation before them (its sample was lost), and untracked ones. */
  unmatched: number;
  untracked: number;
  /** Estimated bytes of this table. */
  memoryBytes: number;
}

/**
 * The outstanding sampled allocations of every probed process: each one's stack (a reference held
 * in the stack table, so it outlives the rolling buffer's window), when it was made, and what it
 * stands for. A sample waits for its address by thread, then waits for its free by address.
 *
 * It is the source of the `inuse` profile (what is allocated and not freed, by stack, at a
 * capture's end), as Go's heap profile's inuse_space: {@link forEachSample} visits each
 * outstanding allocation once, at the time it was made.
 */
export class AllocationLedger implements AllocationEvents, SampleSource {
  private readonly pending = new Map<number, Pending>();
  private readonly live = new Map<number, Map<number, Outstanding>>();
  /** Processes whose probes are attached: records of others (in flight when theirs went) are not kept. */
  private readonly followed = new Set<number>();
  private count = 0;
  /** Holds in force (see {@link hold}), and the stack references waiting for them to end. */
  private holds = 0;
  private deferred: number[] = [];
  private unmatched = 0;
  private untracked = 0;

  constructor(
    private readonly stacks: StackTable,
    private readonly meanBytes: number,
  ) {}

  /** `pid`'s probes are attached: its sampled allocations are kept from now on. */
  follow(pid: number): void {
    this.followed.add(pid);
  }

  sampled(pid: number, tid: number, stackId: number, size: number, timeNs: number): number {
    const { objects, bytes } = allocationWeight(size, this.meanBytes);
    if (!this.followed.has(pid)) return bytes;
    const earlier = this.pending.get(tid);
    if (earlier) this.release(earlier.stackId); // its result was lost
    this.stacks.retain(stackId);
    this.pending.set(tid, { pid, stackId, tid, timeNs, bytes, objects });
    return bytes;
  }

  returned(pid: number, tid: number, address: number, untracked: boolean): void {
    if (!this.followed.has(pid)) return;
    const pending = this.pending.get(tid);
    if (!pending || pending.pid !== pid) {
      this.unmatched++;
      return;
    }
    this.pending.delete(tid);
    if (address === 0 || untracked) {
      if (untracked) this.untracked++;
      this.release(pending.stackId);
      return;
    }
    let byAddress = this.live.get(pid);
    if (!byAddress) this.live.set(pid, (byAddress = new Map()));
    const replaced = byAddress.get(address);
    if (replaced) this.release(replaced.stackId);
    else this.count++;
    byAddress.set(address, { stackId: pending.stackId, tid, timeNs: pending.timeNs, bytes: pending.bytes, objects: pending.objects });
  }

  freed(pid: number, address: number): void {
    const byAddress = this.live.get(pid);
    const entry = byAddress?.get(address);
    if (!byAddress || !entry) return;
    byAddress.delete(address);
    this.count--;
    this.release(entry.stackId);
    if (byAddress.size === 0) this.live.delete(pid);
  }

  /**
   * Drops everything of `pid`, and what arrives of it until it is followed again: it exited, or
   * its probes were detached (its frees are no longer seen).
   */
  forget(pid: number): void {
    this.followed.delete(pid);
    for (const [tid, pending] of this.pending) {
      if (pending.pid !== pid) continue;
      this.release(pending.stackId);
      this.pending.delete(tid);
    }
    const byAddress = this.live.get(pid);
    if (!byAddress) return;
    for (const entry of byAddress.values()) this.release(entry.stackId);
    this.count -= byAddress.size;
    this.live.delete(pid);
  }

  /**
   * Keeps every stack referred to now alive until the returned function is called, whatever is
   * freed or forgotten meanwhile: a capture symbolizes them across awaits.
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds > 0) return;
      for (const stackId of this.deferred.splice(0)) this.stacks.release(stackId);
    };
  }

  private release(stackId: number): void {
    if (this.holds > 0) this.deferred.push(stackId);
    else this.stacks.release(stackId);
  }

  /** Each outstanding allocation made in [fromNs, toNs), in time order, weighing the bytes it stands for. */
  forEachSample(fromNs: number, toNs: number, visit: (timeNs: number, stackId: number, tid: number, weight: number) => void): void {
    const selected: Outstanding[] = [];
    for (const byAddress of this.live.values()) {
      for (const entry of byAddress.values()) if (entry.timeNs >= fromNs && entry.timeNs < toNs) selected.push(entry);
    }
    selected.sort((a, b) => a.timeNs - b.timeNs);
    for (const entry of selected) visit(entry.timeNs, entry.stackId, entry.tid, entry.bytes);
  }

  /** When the oldest outstanding allocation was made (monotonic ns); undefined when there is none. */
  oldestNs(pids?: ReadonlySet<number>): number | undefined {
    let oldest: number | undefined;
    for (const [pid, byAddress] of this.live) {
      if (pids && !pids.has(pid)) continue;
      for (const entry of byAddress.values()) if (oldest === undefined || entry.timeNs < oldest) oldest = entry.timeNs;
    }
    return oldest;
  }

  /** The outstanding bytes `pid`'s samples stand for. */
  outstandingBytesOf(pid: number): number {
    let bytes = 0;
    for (const entry of this.live.get(pid)?.values() ?? []) bytes += entry.bytes;
    return bytes;
  }

  stats(): AllocationLedgerStats {
    let outstandingBytes = 0;
    let outstandingObjects = 0;
    for (const byAddress of this.live.values()) {
      for (const entry of byAddress.values()) {
        outstandingBytes += entry.bytes;
        outstandingObjects += entry.objects;
      }
    }
    return {
      outstanding: this.count,
      outstandingBytes,
      outstandingObjects,
      processes: this.live.size,
      unmatched: this.unmatched,
      untracked: this.untracked,
      memoryBytes: (this.count + this.pending.size) * BYTES_PER_ENTRY,
    };
  }
}
