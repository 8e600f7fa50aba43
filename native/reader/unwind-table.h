// Compiling a file's call-frame information (.eh_frame, and .debug_frame from the file or its
// debug file) into the unwind table the BPF walk reads (bpf/unwind.h): rows sorted by address,
// consecutive equal rules merged. elfutils reads the CFI (dwarf_cfi_addrframe, dwarf_frame_*);
// this only enumerates the FDEs (the address ranges that have CFI) and turns each row's rules
// into the few the walk knows, the rest into explicit "no rule" rows.
#pragma once
#include <elfutils/libdw.h>
#include <libelf.h>
#include <linux/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../../bpf/unwind.h"

struct UnwindTableStats {
  uint64_t fdes = 0;
  uint64_t rows = 0;          // after merging
  uint64_t noRuleRows = 0;    // rows the walk steps by frame pointer (any reason below)
  uint64_t cfaExpression = 0;      // a CFA expression that is none of the forms known
  uint64_t cfaOutOfRange = 0;      // an offset that does not fit the row
  uint64_t returnAddress = 0;      // a return address not at CFA - 8
  uint64_t framePointer = 0;       // an RBP rule not expressible
  uint64_t endRows = 0;            // process and thread roots
  uint64_t signalRows = 0;
  uint64_t pltRows = 0;
  uint64_t workLimitedFdes = 0;    // FDEs left without (all their) rows: the work budget ran out
  std::string sources;             // "eh_frame", "eh_frame+debug_frame"
  std::string refused;             // sections not used and why (corrupt or hostile CFI); empty: none
};

struct UnwindTable {
  uint64_t base = 0;  // rows' pc are offsets from this address of the file's ELF address space
  std::vector<tail2_unwind_row> rows;
  UnwindTableStats stats;
};

// Builds the table of `main` (the mapped file, read with ELF_C_READ) and, when it has one,
// `debug` (its separate debug file: .debug_frame fills ranges .eh_frame does not cover).
// `maxRows` bounds the work on a hostile file. False when the file has no CFI at all, or only CFI
// refused as corrupt (`table->stats.refused` says why): libdw is only ever asked about CFI a scan
// has checked (unwind-table.cc, ScanSection).
bool CompileUnwindTable(Elf* main, Elf* debug, size_t maxRows, UnwindTable* table, std::string* why);
