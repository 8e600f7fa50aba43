/**
 * The layout of `struct tail2_sample` (bpf/sampler.h) as the TypeScript side reads it. A batch
 * from the native drain thread is these records back to back, each 8-byte aligned:
 *
 *   0 timestamp_ns u64 · 8 cgroup_id u64 · 16 start_time_ns u64 · 24 size u32 · 28 pid u32
 *   32 tid u32 · 36 cpu u32 · 40 kstack_len u16 · 42 ustack_len u16 · 44 version u8 · 45 flags u8
 *   46 kind u16 · 48 comm char[16] · 64 stacks u64[kstack_len + ustack_len] (kernel first,
 *   innermost first)
 *
 * A record is a perf tick with its stacks (kind 0), or an exec event (kind 1, header only): the
 * process just started a new image and its mappings should be read before it can exit.
 *
 * test/sample-record-layout.test.ts checks these offsets against the compiled C struct.
 */
export const RecordLayout = {
  timestamp_ns: 0,
  cgroup_id: 8,
  start_time_ns: 16,
  size: 24,
  pid: 28,
  tid: 32,
  cpu: 36,
  kstack_len: 40,
  ustack_len: 42,
  version: 44,
  flags: 45,
  kind: 46,
  comm: 48,
  stacks: 64,
} as const;

export const RECORD_HEADER_BYTES = 64;
export const RECORD_VERSION = 1;
export const COMM_BYTES = 16;

export const RecordKind = {
  sample: 0,
  exec: 1,
} as const;

export const RecordFlags = {
  kstackError: 0x1,
  ustackError: 0x2,
  kernelThread: 0x4,
} as const;

/** Reads a NUL-terminated comm out of a record; `offset` is the record's start. */
export function readComm(bytes: Uint8Array, offset: number): string {
  const start = offset + RecordLayout.comm;
  let end = start;
  while (end < start + COMM_BYTES && bytes[end] !== 0) end++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}
