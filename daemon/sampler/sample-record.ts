import {
  SAMPLE_BYTES,
  SAMPLE_FIELDS,
  TAIL2_COMM_LEN,
  TAIL2_FLAG_ALLOC_UNTRACKED,
  TAIL2_FLAG_KERNEL_THREAD,
  TAIL2_FLAG_KSTACK_ERROR,
  TAIL2_FLAG_USTACK_ERROR,
  TAIL2_FLAG_USTACK_FRAME_POINTER,
  TAIL2_FLAG_USTACK_NO_TABLES,
  TAIL2_FLAG_USTACK_STOPPED,
  TAIL2_FLAG_USTACK_TRUNCATED,
  TAIL2_FLAG_USTACK_UNKNOWN_MAPPING,
  TAIL2_KIND_ALLOC_RESULT,
  TAIL2_KIND_EXEC,
  TAIL2_KIND_EXIT,
  TAIL2_KIND_FREE,
  TAIL2_KIND_SAMPLE,
  TAIL2_MAX_STACK_DEPTH,
  TAIL2_MAX_USER_DEPTH,
  TAIL2_RECORD_VERSION,
} from './record-layout.generated.js';

/**
 * The record the BPF sampler writes (`struct tail2_sample`, bpf/sampler.h), as the decoder reads
 * it: every offset and constant comes from record-layout.generated.ts, which is generated from the
 * header. A batch from the native drain thread is these records back to back, each 8-byte aligned:
 * the header, then `kstack_len` kernel and `ustack_len` user addresses (u64, innermost first).
 *
 * A record is a sample of one profile kind (`kind`, see daemon/model/profile-kind.ts: a CPU sample
 * is kind 0) weighted by `weight` in that kind's unit, or an exec event (header only): the process
 * just started a new image and its mappings should be read before it can exit.
 */

/** Byte offset of each header field. */
export const RecordLayout = Object.fromEntries(Object.entries(SAMPLE_FIELDS).map(([name, field]) => [name, field.offset])) as {
  readonly [Name in keyof typeof SAMPLE_FIELDS]: (typeof SAMPLE_FIELDS)[Name]['offset'];
};

export const RECORD_HEADER_BYTES = SAMPLE_BYTES;
export const RECORD_VERSION = TAIL2_RECORD_VERSION;
export const COMM_BYTES = TAIL2_COMM_LEN;
export const MAX_STACK_DEPTH = TAIL2_MAX_STACK_DEPTH;
export const MAX_USER_DEPTH = TAIL2_MAX_USER_DEPTH;

export const RecordKind = {
  sample: TAIL2_KIND_SAMPLE,
  exec: TAIL2_KIND_EXEC,
  exit: TAIL2_KIND_EXIT,
  /** Header only: the address the thread's last sampled allocation returned (0: it failed). */
  allocResult: TAIL2_KIND_ALLOC_RESULT,
  /** Header only: a sampled allocation, at `address`, was freed. */
  free: TAIL2_KIND_FREE,
} as const;

/** The flags of an allocResult record. */
export const AllocationFlags = {
  /** The kernel's table of sampled allocations was full: this one's free will not be seen. */
  untracked: TAIL2_FLAG_ALLOC_UNTRACKED,
} as const;

export const RecordFlags = {
  kstackError: TAIL2_FLAG_KSTACK_ERROR,
  ustackError: TAIL2_FLAG_USTACK_ERROR,
  kernelThread: TAIL2_FLAG_KERNEL_THREAD,
  /** The table walk stopped at MAX_USER_DEPTH frames. */
  ustackTruncated: TAIL2_FLAG_USTACK_TRUNCATED,
  /** The table walk stepped by frame pointer somewhere (no table or no rule there). */
  ustackFramePointer: TAIL2_FLAG_USTACK_FRAME_POINTER,
  /** An address outside every mapping the walk knew: the process's mappings should be read again. */
  ustackUnknownMapping: TAIL2_FLAG_USTACK_UNKNOWN_MAPPING,
  /** The process had no tables loaded: a frame-pointer stack. */
  ustackNoTables: TAIL2_FLAG_USTACK_NO_TABLES,
  /** The table walk stopped short of a root (unreadable stack, a frame going nowhere). */
  ustackStopped: TAIL2_FLAG_USTACK_STOPPED,
} as const;

/**
 * u32 word indexes of the fields the decoder reads: it walks a batch as a Uint32Array and reads
 * no field through a DataView, so each must sit where a word (or a word pair, low first) begins —
 * checked here, at load, against the generated layout.
 */
function word(field: keyof typeof SAMPLE_FIELDS, within = 0): number {
  const { offset } = SAMPLE_FIELDS[field];
  if ((offset - within) % 4 !== 0) throw new Error(`sample-record: ${field} at byte ${offset} does not start a u32 word; the decoder reads words (bpf/sampler.h changed?)`);
  return (offset - within) / 4;
}

/** The word holding version (u8), flags (u8) and kind (u16), in that order from its low byte. */
const PACKED = word('version');
if (SAMPLE_FIELDS.flags.offset !== SAMPLE_FIELDS.version.offset + 1 || SAMPLE_FIELDS.kind.offset !== SAMPLE_FIELDS.version.offset + 2) {
  throw new Error('sample-record: version, flags and kind no longer share one u32 word (bpf/sampler.h changed?)');
}

export const RecordWords = {
  timeLo: word('timestamp_ns'),
  timeHi: word('timestamp_ns') + 1,
  startLo: word('start_time_ns'),
  startHi: word('start_time_ns') + 1,
  weightLo: word('weight'),
  weightHi: word('weight') + 1,
  addressLo: word('address'),
  addressHi: word('address') + 1,
  size: word('size'),
  pid: word('pid'),
  tid: word('tid'),
  /** kstack_len in the low half, ustack_len in the high half. */
  lengths: word('kstack_len'),
  /** version in the low byte, then flags, then kind in the high half. */
  versionFlagsKind: PACKED,
  comm: word('comm'),
  stacks: word('stacks'),
} as const;

/** Reads a NUL-terminated comm out of a record; `offset` is the record's start. */
export function readComm(bytes: Uint8Array, offset: number): string {
  const start = offset + RecordLayout.comm;
  let end = start;
  while (end < start + COMM_BYTES && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}
