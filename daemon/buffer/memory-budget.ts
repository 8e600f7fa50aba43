import type { MemoryConsumer } from '../model/memory-consumer.js';

export type { MemoryConsumer };

export interface MemoryBudgetStats {
  max_bytes: number;
  bytes: number;
  /** Bytes per consumer. */
  parts: Record<string, number>;
  /** Things each consumer gave up to stay within the budget, since the daemon started. */
  evicted: Record<string, number>;
}

/**
 * One budget (`buffer.max_memory`) for everything the daemon keeps per sample and per process, so
 * no burst of processes — a fork storm, a thousand Java command lines — can grow the daemon past
 * it. When over, the oldest thing held anywhere goes first: a ten-minute-old chunk of samples
 * before a live process's metric history, the history of a process that exited an hour ago before
 * either.
 */
export class MemoryBudget {
  private readonly consumers: MemoryConsumer[] = [];
  private readonly evicted = new Map<string, number>();

  constructor(readonly maxBytes: number) {}

  add(consumer: MemoryConsumer): void {
    this.consumers.push(consumer);
    this.evicted.set(consumer.memoryName, 0);
  }

  bytes(): number {
    let total = 0;
    for (const consumer of this.consumers) total += consumer.memoryBytes();
    return total;
  }

  /**
   * Evicts the oldest things held, across consumers, until `extraBytes` more fit. False when they
   * cannot: everything left is live or pinned.
   */
  makeRoom(extraBytes = 0): boolean {
    let total = this.bytes();
    while (total + extraBytes > this.maxBytes) {
      let oldest: MemoryConsumer | undefined;
      let oldestMs = Infinity;
      for (const consumer of this.consumers) {
        const ms = consumer.oldestEvictableMs();
        if (ms !== undefined && ms < oldestMs) {
          oldestMs = ms;
          oldest = consumer;
        }
      }
      if (!oldest) return false;
      const before = oldest.memoryBytes();
      oldest.evictOldest();
      const after = oldest.memoryBytes();
      // A consumer that gave nothing back and still offers the same thing would loop forever.
      if (after >= before && oldest.oldestEvictableMs() === oldestMs) return false;
      this.evicted.set(oldest.memoryName, (this.evicted.get(oldest.memoryName) ?? 0) + 1);
      total += after - before;
    }
    return true;
  }

  stats(): MemoryBudgetStats {
    const parts: Record<string, number> = {};
    for (const consumer of this.consumers) parts[consumer.memoryName] = consumer.memoryBytes();
    return { max_bytes: this.maxBytes, bytes: this.bytes(), parts, evicted: Object.fromEntries(this.evicted) };
  }
}
