import type { UnwindTable } from '../model/unwind-table.js';

/** Bytes of a table beyond its rows: the object, its key, segments and stats. */
const TABLE_OVERHEAD_BYTES = 600;

/** What a table held in memory costs, estimated from the real sizes. */
export function unwindTableBytes(table: UnwindTable): number {
  return table.rows.length + TABLE_OVERHEAD_BYTES + table.key.length * 2 + table.segments.length * 48;
}

/**
 * Unwind tables held in memory by key, least recently used first out, at most `maxBytes` in all:
 * a table is built once for every process that maps its file while it is here. A table larger
 * than the whole bound is handed out but not kept.
 */
export class UnwindMemoryCache {
  private readonly tables = new Map<string, UnwindTable>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): UnwindTable | undefined {
    const table = this.tables.get(key);
    if (table) {
      // Map order is insertion order: moved to the end, it is the most recently used.
      this.tables.delete(key);
      this.tables.set(key, table);
    }
    return table;
  }

  set(table: UnwindTable): void {
    const old = this.tables.get(table.key);
    if (old) {
      this.bytes -= unwindTableBytes(old);
      this.tables.delete(table.key);
    }
    const bytes = unwindTableBytes(table);
    if (bytes > this.maxBytes) return;
    this.tables.set(table.key, table);
    this.bytes += bytes;
    for (const [key, oldest] of this.tables) {
      if (this.bytes <= this.maxBytes) break;
      this.tables.delete(key);
      this.bytes -= unwindTableBytes(oldest);
    }
  }

  get size(): number {
    return this.tables.size;
  }

  get byteSize(): number {
    return this.bytes;
  }
}
