/**
 * One file's unwind table as tail2-reader compiles it from `.eh_frame` / `.debug_frame`
 * (native/reader/unwind-table.cc) and the BPF walk reads it (bpf/unwind.h).
 */
export interface UnwindTable {
  /** What names the file's contents: its build ID, or the mapping's cache key without one. */
  key: string;
  /** Rows' `pc` are offsets from this address of the file's ELF address space. */
  base: number;
  /** The rows, 8 bytes each (struct tail2_unwind_row), sorted by pc. */
  rows: Uint8Array;
  /** The file's PT_LOAD segments: [file offset, virtual address, bytes in the file]. */
  segments: ReadonlyArray<readonly [number, number, number]>;
}

/** Bytes of one row of an unwind table (struct tail2_unwind_row). */
export const UNWIND_ROW_BYTES = 8;

/**
 * How user stacks are walked (`sampling.unwind`, `tail2 record --unwind`): `auto` with unwind
 * tables where a file has them and frame pointers elsewhere; `frame-pointer` by frame pointers
 * alone (what a process built without them loses: its callers).
 */
export const UNWIND_MODES = ['auto', 'frame-pointer'] as const;
export type UnwindMode = (typeof UNWIND_MODES)[number];
