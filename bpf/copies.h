/* The copy profile's program (docs/profiles.md#copies), included by sampler.bpf.c after
 * allocations.h, whose sampling it shares: a uprobe on the functions a process's memcpy, memmove
 * and mempcpy really run (glibc resolves each to one of its CPU-specific versions, such as
 * __memmove_avx_unaligned_erms, when the process starts: userspace reads which from the
 * process, daemon/probes/copy-target.ts), attached per process by userspace.
 *
 * Every call counts its size in the set's histogram (an exact count of the calls by size, which
 * the overhead guard sums for the call rate); the bytes copied are sampled as allocations are, a
 * Poisson process over the bytes with mean copy_mean_bytes, and a sampled copy writes its stack
 * with the copy's size as weight (userspace weighs it by the inverse of its probability). It is a
 * session uprobe whose entry always returns 1: the return never runs, the cost of a plain uprobe. */
#ifndef TAIL2_COPIES_H
#define TAIL2_COPIES_H

/* The mean gap, in bytes copied, between sampling points: set by the loader. */
const volatile __u64 copy_mean_bytes = 512 * 1024;

/* Copies by size per probe set (slot * TAIL2_COPY_SIZE_BUCKETS + bucket), per CPU: 64 sets of 32
 * buckets, 16 KiB a CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAIL2_MAX_PROBE_SETS * TAIL2_COPY_SIZE_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} copy_sizes SEC(".maps");

/* The histogram bucket of a copy of `size` bytes: 0 for 0, else 1 + floor(log2(size)), at most
 * the last bucket. Branch-free halving (no loop for the verifier to bound). */
static __always_inline __u32 copy_size_bucket(__u64 size)
{
	__u32 bits = 0, shift;

	if (size == 0)
		return 0;
	shift = (size > 0xffffffffULL) << 5;
	size >>= shift;
	bits |= shift;
	shift = (size > 0xffff) << 4;
	size >>= shift;
	bits |= shift;
	shift = (size > 0xff) << 3;
	size >>= shift;
	bits |= shift;
	shift = (size > 0xf) << 2;
	size >>= shift;
	bits |= shift;
	shift = (size > 0x3) << 1;
	size >>= shift;
	bits |= shift;
	bits |= size >> 1;
	bits += 1;
	return bits < TAIL2_COPY_SIZE_BUCKETS ? bits : TAIL2_COPY_SIZE_BUCKETS - 1;
}

/* memcpy(dst, src, n), memmove(dst, src, n), mempcpy(dst, src, n): the size is the third argument. */
SEC("uprobe")
int copy_size_arg3(struct pt_regs *ctx)
{
	__u64 size = PT_REGS_PARM3(ctx);
	__u32 slot = probe_slot(ctx);
	__u32 bucket;
	__u64 *calls;
	struct user_start start;

	if (bpf_session_is_return() || slot >= TAIL2_MAX_PROBE_SETS)
		return 1;
	bucket = slot * TAIL2_COPY_SIZE_BUCKETS + copy_size_bucket(size);
	calls = bpf_map_lookup_elem(&copy_sizes, &bucket);
	if (calls)
		*calls += 1;
	if (size == 0 || !bytes_sampled(TAIL2_COUNTDOWN_COPY, copy_mean_bytes, size))
		return 1;
	count(TAIL2_COUNTER_COPY_SAMPLES);
	probe_user_start(ctx, &start);
	emit_sample(ctx, &start, false, TAIL2_KIND_COPY, size, 0);
	return 1;
}

#endif
