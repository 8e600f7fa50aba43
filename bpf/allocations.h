/* The allocation profile's programs (docs/profiles.md), included by sampler.bpf.c: session uprobes
 * on a process's allocator (malloc, calloc, realloc, free, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc), attached per process by userspace (native/allocation-probes.cc).
 *
 * A session uprobe runs one program at the function's entry and, only when that entry returned 0,
 * again at its return: an allocation that is not sampled costs the entry alone, a countdown on a
 * per-CPU counter. Sampling is a Poisson process over the bytes allocated (jemalloc's and Go's):
 * the gaps between sampling points are exponential with mean alloc_mean_bytes, and an allocation
 * is sampled when a point falls inside it, with probability 1 - exp(-size / mean); userspace
 * weighs each sample by the inverse (daemon/allocations/). A sampled allocation writes its stack
 * at entry (TAIL2_KIND_ALLOC: the walk starts in the allocator, so it is the leaf), its address at
 * return (TAIL2_KIND_ALLOC_RESULT), and its address goes in alloc_live so that its free, and only
 * its, writes a record (TAIL2_KIND_FREE). The ring keeps the order the records were reserved in,
 * so a thread's result always follows its allocation's stack.
 *
 * glibc's realloc(NULL, n) and its memalign family at an alignment malloc gives anyway (16 bytes)
 * call malloc itself, whose probe sees the allocation: counted there, not twice. Userspace marks
 * the probes of a glibc allocator with TAIL2_ALLOC_COOKIE_GLIBC (the link's per-probe cookie). */
#ifndef TAIL2_ALLOCATIONS_H
#define TAIL2_ALLOCATIONS_H

/* Fixed at load time: -ln((i + 0.5) / TAIL2_ALLOC_EXP_STEPS) in fixed point (TAIL2_ALLOC_EXP_SHIFT
 * fraction bits), filled by the loader: BPF has no logarithm. A uniform index into it draws an
 * exponential gap of mean 1. */
const volatile __u32 alloc_exp_table[TAIL2_ALLOC_EXP_STEPS] = {};

/* The mean gap, in bytes, between sampling points: set by the loader, read on every sampled call. */
const volatile __u64 alloc_mean_bytes = 512 * 1024;

/* Bytes left until the next sampling point on this CPU, per profile (TAIL2_COUNTDOWN_*; 0: not
 * drawn yet). Per CPU, not per thread: a point falls on each byte with the same probability
 * either way, and a per-CPU value is an array slot where a thread's would be a task-storage
 * lookup. */
#define TAIL2_COUNTDOWN_ALLOC 0
#define TAIL2_COUNTDOWN_COPY 1
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_countdowns SEC(".maps");

/* Calls into each probe set's functions (its slot, from the attach cookie), for the overhead
 * guard: an array slot per CPU, cheaper than a hash lookup by pid on every call. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAIL2_MAX_PROBE_SETS);
	__type(key, __u32);
	__type(value, __u64);
} probe_calls SEC(".maps");

struct alloc_key {
	__u32 tgid;
	__u32 zero; /* padding, kept 0 so keys compare by their bytes */
	__u64 address;
};

/* Sampled allocations not freed yet, by process and address: a free looks its pointer up here,
 * so only the frees of sampled allocations write a record. Preallocated (a probe must not
 * allocate); sized by the loader (sampling.allocations.max_tracked); userspace deletes a process's
 * entries when it exits or its probes are detached. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* resized by the loader */
	__type(key, struct alloc_key);
	__type(value, __u32);
} alloc_live SEC(".maps");

extern bool bpf_session_is_return(void) __ksym __weak;
extern __u64 *bpf_session_cookie(void) __ksym __weak;

/* The next gap between sampling points, in bytes (at least 1), for a profile of that mean. */
static __always_inline __u64 sampling_gap(__u64 mean_bytes)
{
	__u32 step = bpf_get_prandom_u32() & (TAIL2_ALLOC_EXP_STEPS - 1);

	return ((mean_bytes * alloc_exp_table[step]) >> TAIL2_ALLOC_EXP_SHIFT) + 1;
}

/* Whether `size` bytes hold the next sampling point on this CPU of profile `countdown`
 * (TAIL2_COUNTDOWN_*), whose points are `mean_bytes` apart on average. */
static __always_inline bool bytes_sampled(__u32 countdown, __u64 mean_bytes, __u64 size)
{
	__u64 *left = bpf_map_lookup_elem(&probe_countdowns, &countdown);

	if (!left)
		return false;
	if (*left == 0)
		*left = sampling_gap(mean_bytes);
	if (*left > size) {
		*left -= size;
		return false;
	}
	/* Gaps are memoryless: the next one may be drawn from the end of this allocation. */
	*left = sampling_gap(mean_bytes);
	return true;
}

/* The probe set's slot an attach cookie names (bits TAIL2_PROBE_COOKIE_SLOT_SHIFT and up). */
static __always_inline __u32 probe_slot(struct pt_regs *ctx)
{
	return bpf_get_attach_cookie(ctx) >> TAIL2_PROBE_COOKIE_SLOT_SHIFT;
}

/* The user stack's start at a probed function's entry: the walk starts in the function, the leaf. */
static __always_inline void probe_user_start(struct pt_regs *ctx, struct user_start *start)
{
	start->pc = ctx->ip;
	start->sp = ctx->sp;
	start->bp = ctx->bp;
}

/* The ring's usual wakeup rule for a header-only record: only once a quarter of it is full. */
static __always_inline __u64 alloc_event_wakeup(void)
{
	return bpf_ringbuf_query(&samples, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* A header-only allocation event (ALLOC_RESULT, FREE) of the current thread. */
static __always_inline void emit_alloc_event(__u16 kind, __u64 address, __u8 flags)
{
	struct tail2_sample *record = reserve_process_event(bpf_get_current_task_btf(), kind);

	if (!record)
		return;
	record->address = address;
	record->flags = flags;
	bpf_ringbuf_submit(record, alloc_event_wakeup());
}

/* At an allocator's entry: 0 (run the return probe) when the allocation is sampled and its stack
 * is in the ring; 1 otherwise (a result without its stack would pair with another). `result_at`
 * is where the address will be (posix_memalign's memptr), 0 when it is the return value. */
static __always_inline int alloc_enter(struct pt_regs *ctx, __u64 size, __u64 result_at)
{
	struct user_start start;
	__u64 *cookie;

	if (size == 0 || !bytes_sampled(TAIL2_COUNTDOWN_ALLOC, alloc_mean_bytes, size))
		return 1;
	cookie = bpf_session_cookie();
	if (!cookie)
		return 1;
	*cookie = result_at;
	count(TAIL2_COUNTER_ALLOC_SAMPLES);
	probe_user_start(ctx, &start);
	return emit_sample(ctx, &start, false, TAIL2_KIND_ALLOC, size, 0) ? 1 : 0;
}

/* glibc's allocator, where one entry point calls malloc for the work (see the top). */
static __always_inline bool glibc_allocator(struct pt_regs *ctx)
{
	return bpf_get_attach_cookie(ctx) & TAIL2_ALLOC_COOKIE_GLIBC;
}

/* One more call into the probed process's allocator (at an entry). */
static __always_inline void count_call(struct pt_regs *ctx)
{
	__u32 slot = probe_slot(ctx);
	__u64 *calls = bpf_map_lookup_elem(&probe_calls, &slot);

	if (calls)
		*calls += 1;
}

/* glibc's memalign family calls malloc for alignments malloc gives anyway. */
#define GLIBC_MALLOC_ALIGNMENT 16

/* At a sampled allocation's return: its address, into the ring and alloc_live. */
static __always_inline int alloc_return(struct pt_regs *ctx)
{
	struct alloc_key key = {};
	__u64 address = PT_REGS_RC(ctx);
	__u64 *cookie = bpf_session_cookie();
	__u32 one = 1;
	__u8 flags = 0;

	if (cookie && *cookie) {
		/* posix_memalign: 0 when it stored the address through memptr, an errno otherwise */
		if ((int)address != 0 || bpf_probe_read_user(&address, sizeof(address), (void *)*cookie))
			address = 0;
	}
	if (address) {
		key.tgid = bpf_get_current_pid_tgid() >> 32;
		key.address = address;
		if (bpf_map_update_elem(&alloc_live, &key, &one, BPF_ANY)) {
			flags = TAIL2_FLAG_ALLOC_UNTRACKED;
			count(TAIL2_COUNTER_ALLOC_UNTRACKED);
		}
	}
	emit_alloc_event(TAIL2_KIND_ALLOC_RESULT, address, flags);
	return 0;
}

/* A pointer given back (free, or realloc's old block): a record only when it was sampled. */
static __always_inline void alloc_forget(__u64 address)
{
	struct alloc_key key = {};

	if (!address)
		return;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.address = address;
	if (bpf_map_delete_elem(&alloc_live, &key))
		return;
	count(TAIL2_COUNTER_FREES);
	emit_alloc_event(TAIL2_KIND_FREE, address, 0);
}

/* malloc, valloc, pvalloc: the size is the first argument. */
SEC("uprobe")
int alloc_size_arg1(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return alloc_return(ctx);
	count_call(ctx);
	return alloc_enter(ctx, PT_REGS_PARM1(ctx), 0);
}

/* aligned_alloc, memalign: (alignment, size). */
SEC("uprobe")
int alloc_size_arg2(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return alloc_return(ctx);
	count_call(ctx);
	if (glibc_allocator(ctx) && PT_REGS_PARM1(ctx) <= GLIBC_MALLOC_ALIGNMENT)
		return 1;
	return alloc_enter(ctx, PT_REGS_PARM2(ctx), 0);
}

/* a * b, or 0 when it overflows 64 bits (calloc fails those), in 32-bit halves: a division or
 * __builtin_mul_overflow would make clang call a 128-bit multiply BPF lacks. */
static __always_inline __u64 checked_product(__u64 a, __u64 b)
{
	__u64 ah = a >> 32, al = a & 0xffffffff, bh = b >> 32, bl = b & 0xffffffff;
	__u64 cross, low, product;

	if (ah && bh)
		return 0;
	cross = ah * bl + al * bh; /* one term is 0 */
	if (cross >> 32)
		return 0;
	low = al * bl;
	product = (cross << 32) + low;
	return product < low ? 0 : product;
}

/* calloc(count, size): a product that overflows is a calloc that fails, not sampled. */
SEC("uprobe")
int alloc_calloc(struct pt_regs *ctx)
{
	__u64 items = PT_REGS_PARM1(ctx);
	__u64 size = PT_REGS_PARM2(ctx);

	if (bpf_session_is_return())
		return alloc_return(ctx);
	count_call(ctx);
	return alloc_enter(ctx, checked_product(items, size), 0);
}

/* realloc(pointer, size): the old block is given back, a new one (maybe the same) allocated. A
 * realloc that fails keeps the old block, which this counts as freed. */
SEC("uprobe")
int alloc_realloc(struct pt_regs *ctx)
{
	__u64 pointer = PT_REGS_PARM1(ctx);

	if (bpf_session_is_return())
		return alloc_return(ctx);
	count_call(ctx);
	if (!pointer && glibc_allocator(ctx))
		return 1;
	alloc_forget(pointer);
	return alloc_enter(ctx, PT_REGS_PARM2(ctx), 0);
}

/* posix_memalign(memptr, alignment, size): the address is stored through memptr. */
SEC("uprobe")
int alloc_posix_memalign(struct pt_regs *ctx)
{
	if (bpf_session_is_return())
		return alloc_return(ctx);
	count_call(ctx);
	if (glibc_allocator(ctx) && PT_REGS_PARM2(ctx) <= GLIBC_MALLOC_ALIGNMENT)
		return 1;
	return alloc_enter(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM1(ctx));
}

/* free(pointer): never a return probe. */
SEC("uprobe")
int alloc_free(struct pt_regs *ctx)
{
	count_call(ctx);
	alloc_forget(PT_REGS_PARM1(ctx));
	return 1;
}

#endif
