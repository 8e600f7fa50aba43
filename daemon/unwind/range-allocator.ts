/**
 * Allocates ranges of a fixed array of slots (the unwind maps' rows and mappings): first fit over
 * a free list kept sorted by position, neighbours merged when freed. The lists stay short — a
 * range is a file's table or a process's mappings — so a linear scan is enough.
 */
export class RangeAllocator {
  /** Free ranges, sorted by `first`, never adjacent (merged). */
  private readonly free: Array<{ first: number; size: number }>;
  private usedSlots = 0;

  constructor(readonly capacity: number) {
    this.free = capacity > 0 ? [{ first: 0, size: capacity }] : [];
  }

  /** Slots allocated now. */
  get used(): number {
    return this.usedSlots;
  }

  /** The largest range that could be allocated now. */
  get largestFree(): number {
    let largest = 0;
    for (const range of this.free) largest = Math.max(largest, range.size);
    return largest;
  }

  /** The first slot of a new range of `size` slots, or undefined when no free range is that long. */
  allocate(size: number): number | undefined {
    if (size <= 0) return 0;
    for (let i = 0; i < this.free.length; i++) {
      const range = this.free[i];
      if (range.size < size) continue;
      const first = range.first;
      if (range.size === size) this.free.splice(i, 1);
      else this.free[i] = { first: first + size, size: range.size - size };
      this.usedSlots += size;
      return first;
    }
    return undefined;
  }

  /** Returns a range that {@link allocate} gave out. */
  release(first: number, size: number): void {
    if (size <= 0) return;
    let at = 0;
    while (at < this.free.length && this.free[at].first < first) at++;
    const before = this.free[at - 1];
    const after = this.free[at];
    if ((before && before.first + before.size > first) || (after && first + size > after.first) || first + size > this.capacity) {
      throw new Error(`RangeAllocator: releasing ${first}+${size}, which is not allocated`);
    }
    this.usedSlots -= size;
    if (before && before.first + before.size === first) {
      before.size += size;
      if (after && before.first + before.size === after.first) {
        before.size += after.size;
        this.free.splice(at, 1);
      }
    } else if (after && first + size === after.first) {
      this.free[at] = { first, size: size + after.size };
    } else {
      this.free.splice(at, 0, { first, size });
    }
  }
}
