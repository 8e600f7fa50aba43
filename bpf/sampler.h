/* The records the BPF sampler writes into its ring buffer: the one description of them. native/
 * includes it; the TypeScript decoder reads daemon/sampler/record-layout.generated.ts, which
 * scripts/gen-record-layout.mjs generates from this file (test/sample-record-layout.test.ts fails
 * when the two drift).
 *
 * Layout: the fixed header (struct tail2_sample), then kstack_len kernel addresses, then
 * ustack_len user addresses (u64 each, innermost frame first): at most TAIL2_MAX_STACK_DEPTH
 * kernel and TAIL2_MAX_USER_DEPTH user frames. Records are 8-byte aligned. A
 * reader skips any record whose version it does not know, using `size`. */
#ifndef TAIL2_SAMPLER_H
#define TAIL2_SAMPLER_H

#define TAIL2_RECORD_VERSION 4
#define TAIL2_MAX_STACK_DEPTH 127 /* kernel frames, and user frames walked by frame pointer alone */
#define TAIL2_MAX_USER_DEPTH 255  /* user frames of a walk with unwind tables */
#define TAIL2_COMM_LEN 16

/* flags */
#define TAIL2_FLAG_KSTACK_ERROR 0x1 /* bpf_get_stack failed for the kernel stack */
#define TAIL2_FLAG_USTACK_ERROR 0x2 /* ... for the user stack (e.g. a kernel thread has none) */
#define TAIL2_FLAG_KERNEL_THREAD 0x4 /* task has no user address space */
#define TAIL2_FLAG_USTACK_TRUNCATED 0x8 /* the user walk stopped at TAIL2_MAX_USER_DEPTH frames, short of a root */
#define TAIL2_FLAG_USTACK_FRAME_POINTER 0x10 /* the table walk stepped by frame pointer at least once (no table or no rule there) */
#define TAIL2_FLAG_USTACK_UNKNOWN_MAPPING 0x20 /* a user address outside every mapping the walk knows (dlopen since): refresh them */
#define TAIL2_FLAG_USTACK_NO_TABLES 0x40 /* the process has no tables loaded (yet): its user stack is a frame-pointer walk */
#define TAIL2_FLAG_USTACK_STOPPED 0x80 /* the table walk stopped short of a root: unreadable stack or a frame that goes nowhere */

/* kinds of record: 1 and 128 and up are events (header only), every other kind a sample of one
 * profile (daemon/model/profile-kind.ts names them and their weights' units) */
#define TAIL2_KIND_SAMPLE 0 /* a CPU sample (a perf tick): the stacks follow the header */
#define TAIL2_KIND_PAGE_FAULT 2 /* a page-fault sample: weight is the bytes the faults it stands for made resident */
#define TAIL2_KIND_EXEC 1   /* a process just exec'd a new image: header only, read its maps now */
#define TAIL2_KIND_ALLOC 3   /* a sampled allocation, at the allocator's entry: weight is the bytes asked for (bpf/allocations.h) */
#define TAIL2_KIND_COPY 4    /* a sampled copy (memcpy, memmove, mempcpy), at its entry: weight is the bytes copied (bpf/copies.h) */
#define TAIL2_KIND_EXIT 128 /* a process the walk had tables for exited: header only, free its entries */
#define TAIL2_KIND_ALLOC_RESULT 129 /* the address the thread's last sampled allocation returned (0: it failed): header only */
#define TAIL2_KIND_FREE 130 /* a sampled allocation was freed (or moved by realloc): header only, address is its address */

/* flags of an ALLOC_RESULT record */
#define TAIL2_FLAG_ALLOC_UNTRACKED 0x1 /* the table of sampled allocations was full: its free will not be seen */

/* The allocation profile's table of exponential gaps (bpf/allocations.h): entries, fraction bits */
#define TAIL2_ALLOC_EXP_STEPS 1024
#define TAIL2_ALLOC_EXP_SHIFT 16
/* A probe set is one profile's probes in one process (its allocator, its copy functions). Their
 * attach cookie: from bit 8, the set's slot, where its calls are counted for the overhead guard
 * (probe_calls; copy_sizes for a copy set); below, the profile's own bits. At most
 * TAIL2_MAX_PROBE_SETS sets are attached at once. */
#define TAIL2_PROBE_COOKIE_SLOT_SHIFT 8
#define TAIL2_MAX_PROBE_SETS 64
/* bit 0 of an allocation set's cookie: the allocator is glibc's (bpf/allocations.h) */
#define TAIL2_ALLOC_COOKIE_GLIBC 0x1
/* The copy profile's size histogram per set (bpf/copies.h): bucket 0 counts copies of 0 bytes,
 * bucket b copies of [2^(b-1), 2^b) bytes, the last one everything larger */
#define TAIL2_COPY_SIZE_BUCKETS 32

/* indexes into the per-CPU counters map */
#define TAIL2_COUNTER_SAMPLES 0 /* perf events handled */
#define TAIL2_COUNTER_LOST 1    /* records dropped because the ring buffer was full */
#define TAIL2_COUNTER_FILTERED 2 /* samples skipped by the pid filter */
#define TAIL2_COUNTER_EXECS 3    /* exec events written */
#define TAIL2_COUNTER_TABLE_WALKS 4 /* user stacks walked with unwind tables */
#define TAIL2_COUNTER_TRUNCATED 5   /* ... that hit TAIL2_MAX_USER_DEPTH */
#define TAIL2_COUNTER_FRAME_POINTER 6 /* ... that stepped by frame pointer at least once */
#define TAIL2_COUNTER_UNKNOWN_MAPPING 7 /* ... that met an address outside every known mapping */
#define TAIL2_COUNTER_STOPPED 8     /* ... that stopped short of a root */
#define TAIL2_COUNTER_NO_TABLES 9   /* user stacks of processes without tables (frame pointers alone) */
#define TAIL2_COUNTER_EXITS 10      /* exit events written */
#define TAIL2_COUNTER_PAGE_FAULTS 11 /* page-fault perf events handled (one per period of faults) */
#define TAIL2_COUNTER_ALLOC_SAMPLES 12 /* allocations sampled (of every probed call) */
#define TAIL2_COUNTER_ALLOC_UNTRACKED 13 /* ... whose address did not fit the table of sampled allocations */
#define TAIL2_COUNTER_FREES 14 /* frees of sampled allocations seen */
#define TAIL2_COUNTER_COPY_SAMPLES 15 /* copies sampled (of every probed call) */
#define TAIL2_COUNTER_MAX 16

struct tail2_sample {
	__u64 timestamp_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 cgroup_id;     /* cgroup v2 id of the task */
	__u64 start_time_ns; /* process (thread group leader) start, boot-time clock: pid + this is unique */
	__u64 weight;        /* what the sample stands for, in its kind's unit: 1 for a CPU sample (one period), bytes for a page fault, an allocation or a copy */
	__u64 address;       /* the allocation's address (ALLOC_RESULT, FREE); 0 for other kinds */
	__u32 size;          /* bytes of this record including the header and stacks */
	__u32 pid;           /* thread group id (what userspace calls the pid); 0 for idle */
	__u32 tid;
	__u32 cpu;
	__u16 kstack_len;    /* number of kernel frames following the header */
	__u16 ustack_len;    /* number of user frames following the kernel frames */
	__u8 version;
	__u8 flags;
	__u16 kind;          /* TAIL2_KIND_* */
	char comm[TAIL2_COMM_LEN]; /* thread name */
	__u64 stacks[];      /* kernel frames, then user frames */
};

#endif
