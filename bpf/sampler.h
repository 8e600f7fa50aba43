/* The records the BPF sampler writes into its ring buffer: the one description of them. native/
 * includes it; the TypeScript decoder reads daemon/sampler/record-layout.generated.ts, which
 * scripts/gen-record-layout.mjs generates from this file (test/sample-record-layout.test.ts fails
 * when the two drift).
 *
 * Layout: the fixed header (struct tail2_sample), then kstack_len kernel addresses, then
 * ustack_len user addresses (u64 each, innermost frame first). Records are 8-byte aligned. A
 * reader skips any record whose version it does not know, using `size`. */
#ifndef TAIL2_SAMPLER_H
#define TAIL2_SAMPLER_H

#define TAIL2_RECORD_VERSION 2
#define TAIL2_MAX_STACK_DEPTH 127
#define TAIL2_COMM_LEN 16

/* flags */
#define TAIL2_FLAG_KSTACK_ERROR 0x1 /* bpf_get_stack failed for the kernel stack */
#define TAIL2_FLAG_USTACK_ERROR 0x2 /* ... for the user stack (e.g. a kernel thread has none) */
#define TAIL2_FLAG_KERNEL_THREAD 0x4 /* task has no user address space */

/* kinds of record: 1 is the exec event, every other kind a sample of one profile
 * (daemon/model/profile-kind.ts names them and their weights' units) */
#define TAIL2_KIND_SAMPLE 0 /* a CPU sample (a perf tick): the stacks follow the header */
#define TAIL2_KIND_EXEC 1   /* a process just exec'd a new image: header only, read its maps now */

/* indexes into the per-CPU counters map */
#define TAIL2_COUNTER_SAMPLES 0 /* perf events handled */
#define TAIL2_COUNTER_LOST 1    /* records dropped because the ring buffer was full */
#define TAIL2_COUNTER_FILTERED 2 /* samples skipped by the pid filter */
#define TAIL2_COUNTER_EXECS 3    /* exec events written */
#define TAIL2_COUNTER_MAX 4

struct tail2_sample {
	__u64 timestamp_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 cgroup_id;     /* cgroup v2 id of the task */
	__u64 start_time_ns; /* process (thread group leader) start, boot-time clock: pid + this is unique */
	__u64 weight;        /* what the sample stands for, in its kind's unit: 1 for a CPU sample (one period) */
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
