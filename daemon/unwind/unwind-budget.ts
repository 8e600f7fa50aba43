/** Bytes of one entry of each unwind map (bpf/unwind.h); a hash entry with the kernel's header. */
const ROW_BYTES = 8;
const MAPPING_BYTES = 32;
const PROCESS_ENTRY_BYTES = 4 + 16 + 48;

export interface UnwindCapacities {
  rows: number;
  mappings: number;
  processes: number;
}

/**
 * Splits `sampling.unwind_memory` between the three maps: a process costs a hash entry and some
 * 10–40 mappings, a file's table thousands of rows (libc 28,000, node 372,000), so rows take most.
 * 1/8 goes to mappings and 1/32 to processes: 64 MiB holds 29,000 processes, 262,000 mappings
 * and 7 million rows (about 200 distinct large binaries).
 */
export function unwindCapacities(bytes: number): UnwindCapacities {
  const mappings = Math.max(256, Math.floor(bytes / 8 / MAPPING_BYTES));
  const processes = Math.max(64, Math.floor(bytes / 32 / PROCESS_ENTRY_BYTES));
  const rows = Math.max(4096, Math.floor((bytes - mappings * MAPPING_BYTES - processes * PROCESS_ENTRY_BYTES) / ROW_BYTES));
  return { rows, mappings, processes };
}
