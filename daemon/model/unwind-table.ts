import { z } from 'zod';

/** Bytes of one row, `struct tail2_unwind_row` of bpf/unwind.h: u32 pc, u8 type, s8 aux, s16 cfa_offset. */
export const UNWIND_ROW_BYTES = 8;
/** Highest CFA rule (`TAIL2_CFA_END`) and RBP rule (`TAIL2_RBP_UNDEF`) of bpf/unwind.h. */
export const MAX_CFA_RULE = 7;
export const MAX_RBP_RULE = 3;

/** What the compiler found in a file's CFI (native/reader/unwind-table.h), as the reader reports it. */
export const unwindTableStatsSchema = z.object({
  /** FDEs (address ranges with CFI) compiled. */
  fdes: z.number(),
  /** Rows after merging. */
  rows: z.number(),
  /** Rows with no rule the walk can use: it steps by frame pointer there (the next four by reason, before merging). */
  no_rule_rows: z.number(),
  cfa_expression: z.number(),
  out_of_range: z.number(),
  return_address: z.number(),
  frame_pointer: z.number(),
  /** Process and thread roots (the walk stops there, complete). */
  end_rows: z.number(),
  signal_rows: z.number(),
  plt_rows: z.number(),
  /** FDEs left without (all) their rows because the file's CFI took more work than a file may (hostile, or enormous). */
  work_limited_fdes: z.number(),
  /** Where the CFI came from: `eh_frame`, `debug_frame` or `eh_frame+debug_frame`. */
  sources: z.string(),
  /** Sections not used because their CFI was corrupt or hostile, and why; empty when none. */
  refused: z.string(),
});
export type UnwindTableStats = z.infer<typeof unwindTableStatsSchema>;

/** One PT_LOAD with bytes in the file: [file offset, ELF virtual address, bytes in the file]. */
export type UnwindSegment = [fileOffset: number, vaddr: number, filesz: number];

/**
 * One file's unwind table, as the BPF walk reads it (bpf/unwind.h), shared by every process that
 * maps the file. A PC in a mapping of the file becomes an ELF address through `segments`
 * (`pc - mapping.start + mapping.offset` is a file offset), then a row index by binary search on
 * `address - base`.
 */
export interface UnwindTable {
  /**
   * Names the table: `build-id:<hex>` when the file has a GNU build ID, `vdso:<hex>` for a vDSO
   * without one (a hash of its image), else `file:<mapping cache key>` (device, inode and path).
   * Two mappings with the same key share one table.
   */
  key: string;
  /** The ELF virtual address the rows' `pc` are offsets from. */
  base: number;
  /** The rows, `UNWIND_ROW_BYTES` each, little-endian, sorted by `pc`, exactly as bpf/unwind.h lays them out. */
  rows: Buffer;
  segments: UnwindSegment[];
  stats: UnwindTableStats;
}

/** What unwind tables cost and where they came from, for `tail2 status` and /status. Counts are since the daemon started. */
export const unwindTablesStatusSchema = z.object({
  /** Tables compiled by tail2-reader. */
  built: z.number(),
  /** Tables read back from `<state_dir>/unwind-tables/`. */
  from_disk: z.number(),
  /** Requests answered from memory or joined to a build already under way. */
  shared: z.number(),
  /** Files without CFI (no .eh_frame or .debug_frame): walked by frame pointer. */
  no_cfi: z.number(),
  /** Requests that got no table, by the reader's code (ETIMEDOUT, ECRASHED, EBADELF, EBADCFI, EBADTABLE, …). */
  failed: z.record(z.string(), z.number()),
  /** Cache files that were corrupt, truncated or of another version, deleted and rebuilt. */
  corrupt_on_disk: z.number(),
  /** Cache files that could not be written or read for another reason than being corrupt. */
  disk_errors: z.number(),
  tables_in_memory: z.number(),
  bytes_in_memory: z.number(),
  files_on_disk: z.number(),
  bytes_on_disk: z.number(),
  /** The disk cache's bound (`symbols.max_unwind_cache_size`). */
  max_bytes_on_disk: z.number(),
  /** Cache files removed to stay under it, oldest use first. */
  evicted_from_disk: z.number(),
});
export type UnwindTablesStatus = z.infer<typeof unwindTablesStatusSchema>;

/**
 * Why a buffer is not a valid table for the walk, or undefined when it is: whole rows, `pc`
 * strictly increasing, rule types in range. The BPF walk reads anything safely, but a table out
 * of order would make its binary search answer wrong rows.
 */
export function unwindRowsProblem(rows: Uint8Array): string | undefined {
  if (rows.length % UNWIND_ROW_BYTES !== 0) return `${rows.length} bytes is not a whole number of ${UNWIND_ROW_BYTES}-byte rows`;
  const view = new DataView(rows.buffer, rows.byteOffset, rows.byteLength);
  let previous = -1;
  for (let at = 0; at < rows.length; at += UNWIND_ROW_BYTES) {
    const pc = view.getUint32(at, true);
    const type = view.getUint8(at + 4);
    if (pc <= previous) return `row ${at / UNWIND_ROW_BYTES} (pc 0x${pc.toString(16)}) is not after the row before it (0x${previous.toString(16)})`;
    if ((type & 0xf) > MAX_CFA_RULE || type >> 4 > MAX_RBP_RULE) return `row ${at / UNWIND_ROW_BYTES} has rule type 0x${type.toString(16)}, out of range`;
    previous = pc;
  }
  return undefined;
}

/**
 * How user stacks are walked (`sampling.unwind`, `tail2 record --unwind`): `auto` with unwind
 * tables where a file has them and frame pointers elsewhere; `frame-pointer` by frame pointers
 * alone (what a process built without them loses: its callers).
 */
export const UNWIND_MODES = ['auto', 'frame-pointer'] as const;
export type UnwindMode = (typeof UNWIND_MODES)[number];
