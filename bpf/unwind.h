/* Unwind tables: what tail2-reader compiles from a file's .eh_frame / .debug_frame
 * (native/reader/unwind-table.cc) and the BPF walk reads to step from a frame to its caller
 * without frame pointers. Shared by BPF and native code; fixed-width fields only.
 *
 * A file's table is its rows sorted by `pc` (an address in the file's own ELF address space): a
 * row holds for [pc, next row's pc). Consecutive rows with the same rule are merged. For x86-64
 * each row says how to find the caller's CFA (canonical frame address), return address and RBP
 * from this frame's RSP, RBP and RIP:
 *
 *   CFA rule (type & 0xf)              caller's RSP, RIP                 caller's RBP (type >> 4)
 *   RSP:   CFA = RSP + cfa_offset       RSP = CFA, RIP = *(CFA - 8)      SAME:  unchanged
 *   RBP:   CFA = RBP + cfa_offset                                        CFA:   *(CFA + 8 * aux)
 *   DEREF_RSP: CFA = *(RSP + cfa_offset) + 8 * (aux >> 5)                RBP:   *(RBP + 8 * aux)
 *   DEREF_RBP: CFA = *(RBP + cfa_offset) + 8 * (aux >> 5)                UNDEF: lost (no frame pointer
 *   PLT:   CFA = RSP + 8 + ((RIP & 15) >= cfa_offset ? 8 : 0)                   walk above this frame)
 *   SIGNAL: a signal frame (rt_sigreturn): RSP, RIP and RBP are read from the ucontext at RSP
 *   END:   the root of a process or thread: the walk stops here, complete
 *   NONE:  a rule tail2 cannot express: the walk steps by frame pointer here, and counts it
 *
 * For the DEREF rules `aux` holds the addend in its top 3 bits and the RBP offset (a signed
 * 5-bit count of 8-byte words) in its low 5 bits; otherwise `aux` is a signed byte. */
#ifndef TAIL2_UNWIND_H
#define TAIL2_UNWIND_H

#define TAIL2_CFA_NONE 0
#define TAIL2_CFA_RSP 1
#define TAIL2_CFA_RBP 2
#define TAIL2_CFA_DEREF_RSP 3
#define TAIL2_CFA_DEREF_RBP 4
#define TAIL2_CFA_PLT 5
#define TAIL2_CFA_SIGNAL 6
#define TAIL2_CFA_END 7

#define TAIL2_RBP_SAME 0
#define TAIL2_RBP_CFA 1
#define TAIL2_RBP_RBP 2
#define TAIL2_RBP_UNDEF 3

/* Offsets in the x86-64 signal frame at RSP when the rt_sigreturn trampoline runs: struct
 * rt_sigframe's ucontext.uc_mcontext registers (checked against the trampoline's own CFI). */
#define TAIL2_SIGFRAME_RBP 120
#define TAIL2_SIGFRAME_RSP 160
#define TAIL2_SIGFRAME_RIP 168

struct tail2_unwind_row {
	__u32 pc;          /* first address the row holds for, in the file's ELF address space */
	__u8 type;         /* CFA rule in the low nibble, RBP rule in the high nibble */
	__s8 aux;          /* RBP's offset in 8-byte words, and for DEREF rules the addend */
	__s16 cfa_offset;  /* bytes (the PLT threshold for TAIL2_CFA_PLT) */
};

/* The walk's view of a process: its executable mappings, sorted by start, held contiguously in
 * the unwind_mappings array from `mappings_first` (userspace allocates the ranges). The walk uses
 * them only while `start_time_ns` matches the sampled process (pids are reused). */
struct tail2_unwind_process {
	__u64 start_time_ns;  /* boot-time clock, as struct tail2_sample's */
	__u32 mappings_first;
	__u32 mappings_count; /* at most TAIL2_MAX_PROCESS_MAPPINGS */
};

/* One executable mapping of a process. An address A in [start, end) is row address A - bias of
 * the file's table, held in unwind_rows from `rows_first`; `rows_count` 0 means no table (JIT
 * code, anonymous memory, a file without CFI, table memory full): the walk steps by frame
 * pointer there. */
struct tail2_unwind_mapping {
	__u64 start;
	__u64 end;
	__u64 bias;
	__u32 rows_first;
	__u32 rows_count; /* below 1 << TAIL2_ROW_SEARCH_STEPS */
};

/* Bounds of the walk's binary searches: a process's mappings, and a file's rows. */
#define TAIL2_MAPPING_SEARCH_STEPS 12
#define TAIL2_MAX_PROCESS_MAPPINGS (1 << TAIL2_MAPPING_SEARCH_STEPS)
#define TAIL2_ROW_SEARCH_STEPS 24
#define TAIL2_MAX_FILE_ROWS (1 << TAIL2_ROW_SEARCH_STEPS)

#endif
