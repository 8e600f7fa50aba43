// SPDX-License-Identifier: GPL-2.0
/* System-wide stack sampler: runs on a cpu-clock perf event on every CPU and writes one
 * struct tail2_sample per tick into a ring buffer. Frame-pointer unwinding for user stacks. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sampler.h"

char LICENSE[] SEC("license") = "GPL";

/* Fixed at load time (rodata): 0 samples every process, otherwise only this thread group. */
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024); /* resized by the loader before load */
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAIL2_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#define RECORD_MAX (sizeof(struct tail2_sample) + 2 * TAIL2_MAX_STACK_DEPTH * sizeof(__u64))

/* A record is built here, then copied into the ring buffer at its real size: reserving the
 * maximum (2 KiB) per sample would waste most of the ring on the common 10–30 frame stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[RECORD_MAX]);
} scratch SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);

	if (value)
		*value += 1;
}

SEC("perf_event")
int sample_stack(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 zero = 0;
	struct tail2_sample *record;
	struct task_struct *task;
	long klen, ulen;
	__u64 size;

	count(TAIL2_COUNTER_SAMPLES);
	if (target_tgid && tgid != target_tgid) {
		count(TAIL2_COUNTER_FILTERED);
		return 0;
	}
	record = bpf_map_lookup_elem(&scratch, &zero);
	if (!record)
		return 0;

	task = bpf_get_current_task_btf();
	record->timestamp_ns = bpf_ktime_get_ns();
	record->cgroup_id = bpf_get_current_cgroup_id();
	record->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	record->pid = tgid;
	record->tid = (__u32)pid_tgid;
	record->cpu = bpf_get_smp_processor_id();
	record->version = TAIL2_RECORD_VERSION;
	record->flags = 0;
	record->reserved = 0;
	bpf_get_current_comm(record->comm, sizeof(record->comm));

	klen = bpf_get_stack(ctx, record->stacks, TAIL2_MAX_STACK_DEPTH * sizeof(__u64), 0);
	if (klen < 0) {
		record->flags |= TAIL2_FLAG_KSTACK_ERROR;
		klen = 0;
	}
	klen /= sizeof(__u64);
	if (klen > TAIL2_MAX_STACK_DEPTH)
		klen = TAIL2_MAX_STACK_DEPTH;

	ulen = 0;
	if (!task->mm) {
		record->flags |= TAIL2_FLAG_KERNEL_THREAD;
	} else {
		ulen = bpf_get_stack(ctx, &record->stacks[klen & TAIL2_MAX_STACK_DEPTH],
				     TAIL2_MAX_STACK_DEPTH * sizeof(__u64), BPF_F_USER_STACK);
		if (ulen < 0) {
			record->flags |= TAIL2_FLAG_USTACK_ERROR;
			ulen = 0;
		}
		ulen /= sizeof(__u64);
		if (ulen > TAIL2_MAX_STACK_DEPTH)
			ulen = TAIL2_MAX_STACK_DEPTH;
	}
	record->kstack_len = klen;
	record->ustack_len = ulen;
	size = sizeof(*record) + (klen + ulen) * sizeof(__u64);
	if (size > RECORD_MAX)
		size = RECORD_MAX;
	record->size = size;

	if (bpf_ringbuf_output(&samples, record, size, 0))
		count(TAIL2_COUNTER_LOST);
	return 0;
}
