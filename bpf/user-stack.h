/* The user stack walk with unwind tables (bpf/unwind.h), included by sampler.bpf.c.
 *
 * From the user registers of the sampled thread, each step records the frame's address, finds the
 * mapping that holds it and the table row for it (two bounded binary searches), and applies the
 * row's rule: the caller's CFA, return address and frame pointer. Where there is no table (JIT
 * code, anonymous memory, a file without CFI) or the row says "no rule", it steps by frame
 * pointer instead and goes back to tables at the next frame that has one. Steps, and the steps of
 * each binary search, run in bpf_loop, and the walk's state is a map value: the verifier checks
 * one step of each, not every path through them (load: ~4,400 processed instructions and ~10 ms,
 * instead of ~150,000 and ~0.3 s of CPU).
 *
 * Every read is bpf_probe_read_user of the current task's memory: a bad address fails the read
 * and stops the walk (flagged), never the program. */
#ifndef TAIL2_USER_STACK_H
#define TAIL2_USER_STACK_H

#include "unwind.h"

/* Fixed at load time: 0 walks user stacks by frame pointer alone (bpf_get_stack). */
const volatile __u32 unwind_tables = 0;

/* Every file's rows, back to back (a file's table is one range); written by userspace through
 * mmap, sized by the loader from sampling.unwind_memory. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct tail2_unwind_row);
} unwind_rows SEC(".maps");

/* Every known process's mappings, each process's a contiguous range sorted by start. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct tail2_unwind_mapping);
} unwind_mappings SEC(".maps");

/* tgid -> its range of unwind_mappings. Userspace adds a process once its mappings are read and
 * removes it when it exits (the exit program below tells it) or when memory is short. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct tail2_unwind_process);
} unwind_processes SEC(".maps");

/* x86-64 user addresses are below this (47-bit address space); a sampled ip above it is the
 * kernel's. (The perf context only lets whole words of the registers be read, not cs.) */
#define USER_ADDRESS_END 0x800000000000ULL

struct user_walk {
	__u64 pc;
	__u64 sp;
	__u64 bp;
	__u32 first;          /* index in the record's stacks[] of the first user frame */
	__u32 frames;         /* user frames written */
	__u32 mappings_first;
	__u32 mappings_count;
	__u8 flags;           /* TAIL2_FLAG_USTACK_* */
	__u8 exact_pc;        /* pc is where the frame is (sampled, or interrupted by a signal), not a return address */
	__u8 at_root;         /* the walk reached a process or thread root */
	__u8 bp_lost;         /* RBP is not the caller's any more (a rule said so, or its read failed) */
};

/* The walk's state lives in a per-CPU map value, not on the stack: the verifier tracks stack
 * values exactly, so flags and counts that differ from one bpf_loop step to the next would keep
 * its states from matching and it would check the step once per combination. A map value's
 * fields are unknown to it, so one check of the step covers them all. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct user_walk);
} user_walks SEC(".maps");

static __always_inline int read_user_u64(__u64 *value, __u64 address)
{
	return bpf_probe_read_user(value, sizeof(*value), (const void *)address);
}

/* One binary search: the first index in [lo, hi) of a sorted range whose key is above `key`,
 * found by bpf_loop steps (search_mapping_step, search_row_step). Each step is a callback, so the
 * verifier checks one step rather than every path through up to 25 unrolled ones. */
struct range_search {
	__u64 key;
	__u32 first; /* index in the map of the range's element 0 */
	__u32 lo;
	__u32 hi;
	__u32 failed; /* a lookup failed: no answer */
};

static long search_mapping_step(__u64 index, void *context)
{
	struct range_search *search = context;
	struct tail2_unwind_mapping *mapping;
	__u32 mid, key;

	if (search->lo >= search->hi)
		return 1;
	mid = search->lo + (search->hi - search->lo) / 2;
	key = search->first + mid;
	mapping = bpf_map_lookup_elem(&unwind_mappings, &key);
	if (!mapping) {
		search->failed = 1;
		return 1;
	}
	if (mapping->start <= search->key)
		search->lo = mid + 1;
	else
		search->hi = mid;
	return 0;
}

static long search_row_step(__u64 index, void *context)
{
	struct range_search *search = context;
	struct tail2_unwind_row *row;
	__u32 mid, key;

	if (search->lo >= search->hi)
		return 1;
	mid = search->lo + (search->hi - search->lo) / 2;
	key = search->first + mid;
	row = bpf_map_lookup_elem(&unwind_rows, &key);
	if (!row) {
		search->failed = 1;
		return 1;
	}
	if (row->pc <= search->key)
		search->lo = mid + 1;
	else
		search->hi = mid;
	return 0;
}

/* The mapping of the walk's process holding `pc`, or NULL. */
static __always_inline struct tail2_unwind_mapping *find_mapping(const struct user_walk *walk, __u64 pc)
{
	struct tail2_unwind_mapping *mapping;
	struct range_search search = { .key = pc, .first = walk->mappings_first, .hi = walk->mappings_count };
	__u32 index;

	if (search.hi > TAIL2_MAX_PROCESS_MAPPINGS)
		return NULL;
	bpf_loop(TAIL2_MAPPING_SEARCH_STEPS + 1, search_mapping_step, &search, 0);
	if (search.failed || search.lo == 0 || search.lo < search.hi)
		return NULL;
	index = walk->mappings_first + search.lo - 1;
	mapping = bpf_map_lookup_elem(&unwind_mappings, &index);
	if (!mapping || pc >= mapping->end)
		return NULL;
	return mapping;
}

/* The row of `mapping`'s table that holds for table address `pc`, or NULL. */
static __always_inline struct tail2_unwind_row *find_row(const struct tail2_unwind_mapping *mapping, __u32 pc)
{
	struct range_search search = { .key = pc, .first = mapping->rows_first, .hi = mapping->rows_count };
	__u32 index;

	if (search.hi >= TAIL2_MAX_FILE_ROWS)
		return NULL;
	bpf_loop(TAIL2_ROW_SEARCH_STEPS + 1, search_row_step, &search, 0);
	if (search.failed || search.lo == 0 || search.lo < search.hi)
		return NULL;
	index = mapping->rows_first + search.lo - 1;
	return bpf_map_lookup_elem(&unwind_rows, &index);
}

/* One step by frame pointer: the caller's RBP and return address sit at RBP and RBP + 8. 0 to go
 * on, 1 to stop. RBP 0 is the root of a frame-pointer chain (_start clears it). */
static __always_inline long frame_pointer_step(struct user_walk *walk)
{
	__u64 caller_bp, return_address;

	walk->flags |= TAIL2_FLAG_USTACK_FRAME_POINTER;
	if (walk->bp_lost) {
		/* Nothing to step by: a stack short of its root, not a root. */
		walk->flags |= TAIL2_FLAG_USTACK_STOPPED;
		return 1;
	}
	if (walk->bp == 0) {
		walk->at_root = 1;
		return 1;
	}
	/* Frames live above the one they called: a pointer below the stack is no frame. */
	if (walk->bp < walk->sp || read_user_u64(&caller_bp, walk->bp) || read_user_u64(&return_address, walk->bp + 8)) {
		walk->flags |= TAIL2_FLAG_USTACK_STOPPED;
		return 1;
	}
	walk->sp = walk->bp + 16;
	walk->bp = caller_bp;
	walk->pc = return_address;
	return 0;
}

/* The caller's CFA under `row`, or 0 when it cannot be read. */
static __always_inline __u64 canonical_frame_address(const struct user_walk *walk, const struct tail2_unwind_row *row)
{
	__u64 cfa = 0;

	switch (row->type & 0xf) {
	case TAIL2_CFA_RSP:
		return walk->sp + row->cfa_offset;
	case TAIL2_CFA_RBP:
		return walk->bp + row->cfa_offset;
	case TAIL2_CFA_DEREF_RSP:
		if (read_user_u64(&cfa, walk->sp + row->cfa_offset))
			return 0;
		return cfa + 8 * (((__u8)row->aux) >> 5);
	case TAIL2_CFA_DEREF_RBP:
		if (read_user_u64(&cfa, walk->bp + row->cfa_offset))
			return 0;
		return cfa + 8 * (((__u8)row->aux) >> 5);
	case TAIL2_CFA_PLT:
		return walk->sp + 8 + ((walk->pc & 15) >= (__u64)row->cfa_offset ? 8 : 0);
	}
	return 0;
}

/* The saved-RBP offset of a row, in 8-byte words: a signed byte, or for the DEREF rules a signed
 * 5-bit field under the addend. */
static __always_inline __s64 frame_pointer_words(const struct tail2_unwind_row *row)
{
	__u8 cfa_rule = row->type & 0xf;

	if (cfa_rule == TAIL2_CFA_DEREF_RSP || cfa_rule == TAIL2_CFA_DEREF_RBP)
		return ((__s64)((__u64)(row->aux & 0x1f) << 59)) >> 59;
	return row->aux;
}

/* bpf_loop's body: records the frame at walk->pc and steps to its caller. 0 to go on, 1 to stop. */
static long user_walk_step(__u64 index, void *context)
{
	struct user_walk *walk;
	struct tail2_unwind_mapping *mapping;
	struct tail2_unwind_row *row;
	struct tail2_sample *record;
	__u64 lookup, table_pc, cfa, return_address, caller_bp;
	__u32 zero = 0, slot;

	walk = bpf_map_lookup_elem(&user_walks, &zero);
	if (!walk)
		return 1;
	if (walk->pc == 0) {
		walk->at_root = 1;
		return 1;
	}
	slot = walk->first + walk->frames;
	record = bpf_map_lookup_elem(&scratch, &zero);
	if (!record || slot >= TAIL2_MAX_STACK_DEPTH + TAIL2_MAX_USER_DEPTH)
		return 1;
	record->stacks[slot] = walk->pc;
	walk->frames++;
	if (walk->frames >= TAIL2_MAX_USER_DEPTH) {
		walk->flags |= TAIL2_FLAG_USTACK_TRUNCATED;
		return 1;
	}

	/* A return address is the instruction after the call: its row may be the next function's. */
	lookup = walk->exact_pc ? walk->pc : walk->pc - 1;
	walk->exact_pc = 0;
	mapping = find_mapping(walk, lookup);
	if (!mapping) {
		walk->flags |= TAIL2_FLAG_USTACK_UNKNOWN_MAPPING;
		return frame_pointer_step(walk);
	}
	if (mapping->rows_count == 0)
		return frame_pointer_step(walk);
	table_pc = lookup - mapping->bias;
	if (table_pc > 0xffffffffULL)
		return frame_pointer_step(walk);
	row = find_row(mapping, (__u32)table_pc);
	if (!row)
		return frame_pointer_step(walk);

	switch (row->type & 0xf) {
	case TAIL2_CFA_NONE:
		return frame_pointer_step(walk);
	case TAIL2_CFA_END:
		walk->at_root = 1;
		return 1;
	case TAIL2_CFA_SIGNAL:
		/* rt_sigreturn's frame: the interrupted registers are in the ucontext at RSP, and the
		 * interrupted pc is where that frame is, not a return address. */
		if (read_user_u64(&caller_bp, walk->sp + TAIL2_SIGFRAME_RBP) ||
		    read_user_u64(&cfa, walk->sp + TAIL2_SIGFRAME_RSP) ||
		    read_user_u64(&return_address, walk->sp + TAIL2_SIGFRAME_RIP)) {
			walk->flags |= TAIL2_FLAG_USTACK_STOPPED;
			return 1;
		}
		walk->bp = caller_bp;
		walk->bp_lost = 0;
		walk->sp = cfa;
		walk->pc = return_address;
		walk->exact_pc = 1;
		return 0;
	}

	cfa = canonical_frame_address(walk, row);
	/* The caller's frame is above this one; anything else is a corrupt stack or table. */
	if (cfa <= walk->sp || read_user_u64(&return_address, cfa - 8)) {
		walk->flags |= TAIL2_FLAG_USTACK_STOPPED;
		return 1;
	}
	switch (row->type >> 4) {
	case TAIL2_RBP_CFA:
		walk->bp_lost = 0;
		if (read_user_u64(&caller_bp, cfa + 8 * frame_pointer_words(row))) {
			caller_bp = 0;
			walk->bp_lost = 1;
		}
		walk->bp = caller_bp;
		break;
	case TAIL2_RBP_RBP:
		walk->bp_lost = 0;
		if (read_user_u64(&caller_bp, walk->bp + 8 * frame_pointer_words(row))) {
			caller_bp = 0;
			walk->bp_lost = 1;
		}
		walk->bp = caller_bp;
		break;
	case TAIL2_RBP_UNDEF:
		walk->bp = 0;
		walk->bp_lost = 1;
		break;
	}
	walk->sp = cfa;
	walk->pc = return_address;
	return 0;
}

/* Where a user stack walk starts: the user registers of the sampled or probed thread. */
struct user_start {
	__u64 pc;
	__u64 sp;
	__u64 bp;
};

/* Walks the current task's user stack with tables, from `start`, into record->stacks[first...].
 * Returns the number of frames, or -1 when the process has no tables (the caller walks by frame
 * pointer). */
static __always_inline long walk_user_stack(const struct user_start *start, __u32 tgid, __u64 start_time,
					    __u32 first, __u8 *flags)
{
	struct tail2_unwind_process *process;
	struct user_walk *walk;
	__u32 zero = 0;

	process = bpf_map_lookup_elem(&unwind_processes, &tgid);
	if (!process || process->start_time_ns != start_time) {
		*flags |= TAIL2_FLAG_USTACK_NO_TABLES;
		count(TAIL2_COUNTER_NO_TABLES);
		return -1;
	}
	walk = bpf_map_lookup_elem(&user_walks, &zero);
	if (!walk)
		return -1;
	__builtin_memset(walk, 0, sizeof(*walk));
	walk->mappings_first = process->mappings_first;
	walk->mappings_count = process->mappings_count;
	walk->pc = start->pc;
	walk->sp = start->sp;
	walk->bp = start->bp;
	walk->first = first;
	walk->exact_pc = 1;
	count(TAIL2_COUNTER_TABLE_WALKS);
	bpf_loop(TAIL2_MAX_USER_DEPTH, user_walk_step, NULL, 0);
	if (!walk->at_root && !(walk->flags & (TAIL2_FLAG_USTACK_STOPPED | TAIL2_FLAG_USTACK_TRUNCATED)))
		walk->flags |= TAIL2_FLAG_USTACK_TRUNCATED;
	if (walk->flags & TAIL2_FLAG_USTACK_TRUNCATED)
		count(TAIL2_COUNTER_TRUNCATED);
	if (walk->flags & TAIL2_FLAG_USTACK_FRAME_POINTER)
		count(TAIL2_COUNTER_FRAME_POINTER);
	if (walk->flags & TAIL2_FLAG_USTACK_UNKNOWN_MAPPING)
		count(TAIL2_COUNTER_UNKNOWN_MAPPING);
	if (walk->flags & TAIL2_FLAG_USTACK_STOPPED)
		count(TAIL2_COUNTER_STOPPED);
	*flags |= walk->flags;
	return walk->frames;
}

#endif
