// Generated from bpf/sampler.h by scripts/gen-record-layout.mjs (`npm run gen:record-layout`): do not
// edit. Offsets are clang's layout of the struct for the BPF target; test/sample-record-layout.test.ts
// fails when this file is not what the header gives, and when the native addon's offsetof disagrees.

/** struct tail2_sample: each field's byte offset and size (for a flexible array, one element's). */
export const SAMPLE_FIELDS = {
  timestamp_ns: { offset: 0, bytes: 8 }, // __u64
  cgroup_id: { offset: 8, bytes: 8 }, // __u64
  start_time_ns: { offset: 16, bytes: 8 }, // __u64
  weight: { offset: 24, bytes: 8 }, // __u64
  size: { offset: 32, bytes: 4 }, // __u32
  pid: { offset: 36, bytes: 4 }, // __u32
  tid: { offset: 40, bytes: 4 }, // __u32
  cpu: { offset: 44, bytes: 4 }, // __u32
  kstack_len: { offset: 48, bytes: 2 }, // __u16
  ustack_len: { offset: 50, bytes: 2 }, // __u16
  version: { offset: 52, bytes: 1 }, // __u8
  flags: { offset: 53, bytes: 1 }, // __u8
  kind: { offset: 54, bytes: 2 }, // __u16
  comm: { offset: 56, bytes: 16 }, // char[16]
  stacks: { offset: 72, bytes: 8 }, // __u64[]
} as const;

/** sizeof(struct tail2_sample): the fixed part, before any flexible array. */
export const SAMPLE_BYTES = 72;

// The #defines of bpf/sampler.h.
export const TAIL2_RECORD_VERSION = 3;
/** kernel frames, and user frames walked by frame pointer alone */
export const TAIL2_MAX_STACK_DEPTH = 127;
/** user frames of a walk with unwind tables */
export const TAIL2_MAX_USER_DEPTH = 255;
export const TAIL2_COMM_LEN = 16;
/** bpf_get_stack failed for the kernel stack */
export const TAIL2_FLAG_KSTACK_ERROR = 1;
/** ... for the user stack (e.g. a kernel thread has none) */
export const TAIL2_FLAG_USTACK_ERROR = 2;
/** task has no user address space */
export const TAIL2_FLAG_KERNEL_THREAD = 4;
/** the user walk stopped at TAIL2_MAX_USER_DEPTH frames, short of a root */
export const TAIL2_FLAG_USTACK_TRUNCATED = 8;
/** the table walk stepped by frame pointer at least once (no table or no rule there) */
export const TAIL2_FLAG_USTACK_FRAME_POINTER = 16;
/** a user address outside every mapping the walk knows (dlopen since): refresh them */
export const TAIL2_FLAG_USTACK_UNKNOWN_MAPPING = 32;
/** the process has no tables loaded (yet): its user stack is a frame-pointer walk */
export const TAIL2_FLAG_USTACK_NO_TABLES = 64;
/** the table walk stopped short of a root: unreadable stack or a frame that goes nowhere */
export const TAIL2_FLAG_USTACK_STOPPED = 128;
/** a CPU sample (a perf tick): the stacks follow the header */
export const TAIL2_KIND_SAMPLE = 0;
/** a page-fault sample: weight is the bytes the faults it stands for made resident */
export const TAIL2_KIND_PAGE_FAULT = 2;
/** a process just exec'd a new image: header only, read its maps now */
export const TAIL2_KIND_EXEC = 1;
/** a process the walk had tables for exited: header only, free its entries */
export const TAIL2_KIND_EXIT = 128;
/** perf events handled */
export const TAIL2_COUNTER_SAMPLES = 0;
/** records dropped because the ring buffer was full */
export const TAIL2_COUNTER_LOST = 1;
/** samples skipped by the pid filter */
export const TAIL2_COUNTER_FILTERED = 2;
/** exec events written */
export const TAIL2_COUNTER_EXECS = 3;
/** user stacks walked with unwind tables */
export const TAIL2_COUNTER_TABLE_WALKS = 4;
/** ... that hit TAIL2_MAX_USER_DEPTH */
export const TAIL2_COUNTER_TRUNCATED = 5;
/** ... that stepped by frame pointer at least once */
export const TAIL2_COUNTER_FRAME_POINTER = 6;
/** ... that met an address outside every known mapping */
export const TAIL2_COUNTER_UNKNOWN_MAPPING = 7;
/** ... that stopped short of a root */
export const TAIL2_COUNTER_STOPPED = 8;
/** user stacks of processes without tables (frame pointers alone) */
export const TAIL2_COUNTER_NO_TABLES = 9;
/** exit events written */
export const TAIL2_COUNTER_EXITS = 10;
/** page-fault perf events handled (one per period of faults) */
export const TAIL2_COUNTER_PAGE_FAULTS = 11;
export const TAIL2_COUNTER_MAX = 12;
