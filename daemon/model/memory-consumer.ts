/**
 * Something the daemon keeps per sample or per process that can give memory back, oldest first:
 * the sample buffer (with its stacks, process snapshots and thread names), the metric history, the
 * rule engine's instances, the collectors' per-process state.
 */
export interface MemoryConsumer {
  /** Shown in `tail2 status` (`memory.parts`). */
  readonly memoryName: string;
  /** Bytes held now, estimated from the real sizes of what is held. */
  memoryBytes(): number;
  /**
   * Wall-clock ms of the oldest thing it could give up now (the newest time that thing covers), or
   * undefined when nothing may go (what is live or pinned by a capture stays).
   */
  oldestEvictableMs(): number | undefined;
  /** Gives up that oldest thing. */
  evictOldest(): void;
}
