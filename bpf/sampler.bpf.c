// SPDX-License-Identifier: GPL-2.0
/* System-wide stack sampler: runs on a cpu-clock perf event on every CPU and writes one
 * struct tail2_sample per tick into a ring buffer; on a page-faults perf event, where userspace
 * opened one, a sample per period of faults, weighted in bytes. User stacks are walked with unwind tables
 * where userspace loaded them (user-stack.h), by frame pointer elsewhere. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sampler.h"

char LICENSE[] SEC("license") = "GPL";

/* Fixed at load time (rodata): 0 samples every process, otherwise only this thread group. */
const volatile __u32 target_tgid = 0;
/* Fixed at load time: wake the reader once this many bytes wait in the ring. Below it the reader
 * drains on its own timer, so a busy host is not interrupted by a wakeup per sample. */
const volatile __u64 wakeup_bytes = 0;
/* Fixed at load time: the base page size. A page-fault sample stands for its event's period of
 * faults, each of which made (at least) one page resident. */
const volatile __u64 page_bytes = 4096;

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

#define RECORD_MAX (sizeof(struct tail2_sample) + (TAIL2_MAX_STACK_DEPTH + TAIL2_MAX_USER_DEPTH) * sizeof(__u64))

/* A record is built here, then copied into the ring buffer at its real size: reserving the
 * maximum (3 KiB) per sample would waste most of the ring on the common 10–30 frame stack. */
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

#include "user-stack.h"

/* Minimum time between two early wakeups of the reader (for a process seen for the first time, or
 * an exec), so a fork storm costs a bounded number of wakeups. A wakeup that falls inside the
 * interval is deferred, not dropped: the first record after the interval carries it. */
#define EARLY_WAKEUP_INTERVAL_NS (20 * 1000 * 1000)

struct early_wakeup_state {
	__u64 last_ns; /* when the reader was last woken early */
	__u64 pending; /* an early wakeup was asked for inside the interval */
	__u64 last_unknown_ns; /* when an address outside the known mappings last asked for one */
};

/* A walk that met an address outside every known mapping (a library dlopen'd since) wakes the
 * reader early too, so the mappings are read again within milliseconds rather than at the next
 * batch; at most this often, since a stack that walks into garbage meets such addresses on every
 * sample. */
#define UNKNOWN_MAPPING_WAKEUP_INTERVAL_NS (100 * 1000 * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct early_wakeup_state);
} early_wakeup_state SEC(".maps");

/* Processes (tgid -> start time) that have had a sample: the first sample of any other one wakes
 * the reader early, so userspace reads its mappings while it still runs. LRU: a process not
 * sampled for long is forgotten, and at worst costs one more early wakeup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} seen_processes SEC(".maps");

/* BPF_RB_FORCE_WAKEUP when an early wakeup is wanted (`want`) or deferred, and the interval
 * since the last one has passed; BPF_RB_NO_WAKEUP otherwise. Races between CPUs only cost an
 * extra or a later wakeup. */
static __always_inline __u64 early_wakeup(__u64 now, bool want)
{
	__u32 zero = 0;
	struct early_wakeup_state *state = bpf_map_lookup_elem(&early_wakeup_state, &zero);

	if (!state)
		return BPF_RB_NO_WAKEUP;
	if (!want && !state->pending)
		return BPF_RB_NO_WAKEUP;
	if (now - state->last_ns < EARLY_WAKEUP_INTERVAL_NS) {
		state->pending = 1;
		return BPF_RB_NO_WAKEUP;
	}
	state->last_ns = now;
	state->pending = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* Whether an unknown mapping may ask for an early wakeup now (see UNKNOWN_MAPPING_WAKEUP_INTERVAL_NS). */
static __always_inline bool unknown_mapping_wakeup(__u64 now)
{
	__u32 zero = 0;
	struct early_wakeup_state *state = bpf_map_lookup_elem(&early_wakeup_state, &zero);

	if (!state || now - state->last_unknown_ns < UNKNOWN_MAPPING_WAKEUP_INTERVAL_NS)
		return false;
	state->last_unknown_ns = now;
	return true;
}

/* Wake the reader when the ring is a quarter full (see the loader), or early for a new process
 * or a walk that met an unknown mapping. */
static __always_inline __u64 wakeup_flags(__u32 tgid, __u64 start_time, __u64 now, __u8 flags)
{
	__u64 *known;
	bool first_sight = false;

	if (bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	if (tgid != 0) {
		known = bpf_map_lookup_elem(&seen_processes, &tgid);
		if (!known || *known != start_time) {
			bpf_map_update_elem(&seen_processes, &tgid, &start_time, BPF_ANY);
			first_sight = true;
		}
	}
	if (flags & TAIL2_FLAG_USTACK_UNKNOWN_MAPPING)
		first_sight = first_sight || unknown_mapping_wakeup(now);
	return early_wakeup(now, first_sight);
}

/* One sample of `kind` weighing `weight` (at `address`, where the kind has one), with the current
 * task's user stack from `user` (NULL: none could be found, walk by frame pointer) and, when
 * `kernel_stack`, its kernel stack, into the ring. `ctx` is the program's context, which
 * bpf_get_stack reads. 0 when the record is in the ring, -1 when it is not (filtered out, or the
 * ring was full). Inlined into each program: the verifier checks each on its own anyway. */
static __always_inline int emit_sample(void *ctx, const struct user_start *user, bool kernel_stack,
				       __u16 kind, __u64 weight, __u64 address)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 zero = 0;
	struct tail2_sample *record;
	struct task_struct *task;
	long klen, ulen;
	__u64 size;

	if (target_tgid && tgid != target_tgid) {
		count(TAIL2_COUNTER_FILTERED);
		return -1;
	}
	record = bpf_map_lookup_elem(&scratch, &zero);
	if (!record)
		return -1;

	task = bpf_get_current_task_btf();
	record->timestamp_ns = bpf_ktime_get_ns();
	record->cgroup_id = bpf_get_current_cgroup_id();
	record->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	record->weight = weight;
	record->address = address;
	record->pid = tgid;
	record->tid = (__u32)pid_tgid;
	record->cpu = bpf_get_smp_processor_id();
	record->version = TAIL2_RECORD_VERSION;
	record->flags = 0;
	record->kind = kind;
	bpf_get_current_comm(record->comm, sizeof(record->comm));

	klen = 0;
	if (kernel_stack) {
		klen = bpf_get_stack(ctx, record->stacks, TAIL2_MAX_STACK_DEPTH * sizeof(__u64), 0);
		if (klen < 0) {
			record->flags |= TAIL2_FLAG_KSTACK_ERROR;
			klen = 0;
		}
		klen /= sizeof(__u64);
		if (klen > TAIL2_MAX_STACK_DEPTH)
			klen = TAIL2_MAX_STACK_DEPTH;
	}

	ulen = -1;
	if (!task->mm) {
		record->flags |= TAIL2_FLAG_KERNEL_THREAD;
		ulen = 0;
	} else if (unwind_tables && user) {
		ulen = walk_user_stack(user, tgid, record->start_time_ns, klen, &record->flags);
	}
	if (ulen < 0) {
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
	if (ulen > TAIL2_MAX_USER_DEPTH)
		ulen = TAIL2_MAX_USER_DEPTH;
	record->kstack_len = klen;
	record->ustack_len = ulen;
	size = sizeof(*record) + (klen + ulen) * sizeof(__u64);
	if (size > RECORD_MAX)
		size = RECORD_MAX;
	record->size = size;

	if (bpf_ringbuf_output(&samples, record, size, wakeup_flags(tgid, record->start_time_ns, record->timestamp_ns, record->flags))) {
		count(TAIL2_COUNTER_LOST);
		return -1;
	}
	return 0;
}

/* The user registers a perf event interrupted: the sampled ones in user mode; in kernel mode (a
 * system call, a page fault) those saved at kernel entry. False when there are none to read. */
static __always_inline bool perf_user_start(struct bpf_perf_event_data *ctx, struct user_start *start)
{
	struct pt_regs *regs;

	if (ctx->regs.ip < USER_ADDRESS_END) {
		start->pc = ctx->regs.ip;
		start->sp = ctx->regs.sp;
		start->bp = ctx->regs.bp;
		return true;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return false;
	start->pc = BPF_CORE_READ(regs, ip);
	start->sp = BPF_CORE_READ(regs, sp);
	start->bp = BPF_CORE_READ(regs, bp);
	return true;
}

/* A perf event's sample: kernel stack, then the user stack from the interrupted registers. */
static __always_inline int emit_perf_sample(struct bpf_perf_event_data *ctx, __u16 kind, __u64 weight)
{
	struct user_start start = {};

	emit_sample(ctx, perf_user_start(ctx, &start) ? &start : NULL, true, kind, weight, 0);
	return 0;
}

SEC("perf_event")
int sample_stack(struct bpf_perf_event_data *ctx)
{
	count(TAIL2_COUNTER_SAMPLES);
	return emit_perf_sample(ctx, TAIL2_KIND_SAMPLE, 1);
}

/* On a page-faults software event: the stack of the code that touched the page (user code for a
 * fault in user mode, whose registers the event has; the kernel's path, then the user stack, for a
 * fault the kernel took on the task's behalf, in copy_to_user say), weighted by the period's faults
 * times the page size, in bytes: an estimate of the memory made resident (docs/profiles.md). The
 * period is read from the event, so a period changed in place weighs right at once. */
SEC("perf_event")
int sample_page_fault(struct bpf_perf_event_data *ctx)
{
	count(TAIL2_COUNTER_PAGE_FAULTS);
	return emit_perf_sample(ctx, TAIL2_KIND_PAGE_FAULT, ctx->sample_period * page_bytes);
}

/* A header-only record of a process event (`kind`) of `task`, the current task, reserved in the
 * ring; NULL (counted as lost) when the ring is full. The caller submits it. */
static __always_inline struct tail2_sample *reserve_process_event(struct task_struct *task, __u16 kind)
{
	struct tail2_sample *record = bpf_ringbuf_reserve(&samples, sizeof(*record), 0);

	if (!record) {
		count(TAIL2_COUNTER_LOST);
		return NULL;
	}
	record->timestamp_ns = bpf_ktime_get_ns();
	record->cgroup_id = bpf_get_current_cgroup_id();
	record->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	record->weight = 0;
	record->address = 0;
	record->size = sizeof(*record);
	record->pid = task->tgid;
	record->tid = task->pid;
	record->cpu = bpf_get_smp_processor_id();
	record->kstack_len = 0;
	record->ustack_len = 0;
	record->version = TAIL2_RECORD_VERSION;
	record->flags = 0;
	record->kind = kind;
	bpf_get_current_comm(record->comm, sizeof(record->comm));
	return record;
}

/* A process replaced its image. Userspace must read its mappings soon, while it still runs: a
 * short-lived process may be gone by the time its first samples arrive with the next batch.
 * tp_btf needs no tracefs. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = task->tgid;
	struct tail2_sample *record;

	if (target_tgid && tgid != target_tgid)
		return 0;
	/* First, whatever happens to the record: its mappings are another image's now, so the walk
	 * forgets them (userspace frees them on this record, or when its sweep finds them gone), and
	 * the exec'd image's first sample wakes the reader early, once its libraries are mapped. */
	bpf_map_delete_elem(&unwind_processes, &tgid);
	bpf_map_delete_elem(&seen_processes, &tgid);
	record = reserve_process_event(task, TAIL2_KIND_EXEC);
	if (!record)
		return 0;
	bpf_ringbuf_submit(record, early_wakeup(record->timestamp_ns, true));
	count(TAIL2_COUNTER_EXECS);
	return 0;
}

/* A process exited: forget its tables' entry and tell userspace, which frees its mappings. Only
 * for processes that have one, so short-lived processes the walk never knew cost no record.
 * tp_btf needs no tracefs; the leader's exit stands for the process's (a leader that leaves
 * before its threads costs the rest a frame-pointer walk until userspace learns them again). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;
	struct tail2_sample *record;

	if (task->pid != task->tgid || bpf_map_delete_elem(&unwind_processes, &tgid))
		return 0;
	record = reserve_process_event(task, TAIL2_KIND_EXIT);
	if (!record)
		return 0;
	bpf_ringbuf_submit(record, 0);
	count(TAIL2_COUNTER_EXITS);
	return 0;
}

#include "allocations.h"
#include "copies.h"
