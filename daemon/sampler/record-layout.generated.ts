// Generated from bpf/sampler.h by scripts/gen-record-layout.mjs (`npm run gen:record-layout`): do not
// edit. Offsets are clang's layout of the struct for the BPF target; test/sample-record-layout.test.ts
// fails when this file is not what the header gives, and when the native addon's offsetof disagrees.

/** struct tail2_sample: each field's byte offset and size (for a flexible array, one element's). */
export const SAMPLE_FIELDS = {
  timestamp_ns: { offset: 0, bytes: 8 }, // __u64
  cgroup_id: { offset: 8, bytes: 8 }, // __u64
  start_time_ns: { offset: 16, bytes: 8 }, // __u64
  weight: { offset: 24, bytes: 8 }, // __u64
  address: { offset: 32, bytes: 8 }, // __u64
  size: { offset: 40, bytes: 4 }, // __u32
  pid: { offset: 44, bytes: 4 }, // __u32
  tid: { offset: 48, bytes: 4 }, // __u32
  cpu: { offset: 52, bytes: 4 }, // __u32
  kstack_len: { offset: 56, bytes: 2 }, // __u16
  ustack_len: { offset: 58, bytes: 2 }, // __u16
  version: { offset: 60, bytes: 1 }, // __u8
  flags: { offset: 61, bytes: 1 }, // __u8
  kind: { offset: 62, bytes: 2 }, // __u16
  comm: { offset: 64, bytes: 16 }, // char[16]
  stacks: { offset: 80, bytes: 8 }, // __u64[]
} as const;

/** sizeof(struct tail2_sample): the fixed part, before any flexible array. */
export const SAMPLE_BYTES = 80;

// The #defines of bpf/sampler.h.
export const TAIL2_RECORD_VERSION = 4;
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
/** a sampled allocation, at the allocator's entry: weight is the bytes asked for (bpf/allocations.h) */
export const TAIL2_KIND_ALLOC = 3;
/** a sampled copy (memcpy, memmove, mempcpy), at its entry: weight is the bytes copied (bpf/copies.h) */
export const TAIL2_KIND_COPY = 4;
/** a process the walk had tables for exited: header only, free its entries */
export const TAIL2_KIND_EXIT = 128;
/** the address the thread's last sampled allocation returned (0: it failed): header only */
export const TAIL2_KIND_ALLOC_RESULT = 129;
/** a sampled allocation was freed (or moved by realloc): header only, address is its address */
export const TAIL2_KIND_FREE = 130;
/** the table of sampled allocations was full: its free will not be seen */
export const TAIL2_FLAG_ALLOC_UNTRACKED = 1;
export const TAIL2_ALLOC_EXP_STEPS = 1024;
export const TAIL2_ALLOC_EXP_SHIFT = 16;
export const TAIL2_PROBE_COOKIE_SLOT_SHIFT = 8;
export const TAIL2_MAX_PROBE_SETS = 64;
export const TAIL2_ALLOC_COOKIE_GLIBC = 1;
export const TAIL2_COPY_SIZE_BUCKETS = 32;
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
/** allocations sampled (of every probed call) */
export const TAIL2_COUNTER_ALLOC_SAMPLES = 12;
/** ... whose address did not fit the table of sampled allocations */
export const TAIL2_COUNTER_ALLOC_UNTRACKED = 13;
/** frees of sampled allocations seen */
export const TAIL2_COUNTER_FREES = 14;
/** copies sampled (of every probed call) */
export const TAIL2_COUNTER_COPY_SAMPLES = 15;
export const TAIL2_COUNTER_MAX = 16;
