// The unwind table of the vDSO, which is not a file: the kernel maps the same image into every
// 64-bit process on the host, so the reader compiles its own copy (found through
// getauxval(AT_SYSINFO_EHDR)) and that table serves every process's [vdso] mapping.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "elf-module.h"
#include "failure.h"
#include "unwind-table.h"

struct VdsoTable {
  UnwindTable table;
  std::vector<Segment> segments;  // PT_LOADs of the image (the vDSO is mapped at file offset 0)
  std::string buildId;            // lower-case hex, empty when the kernel built it without one
  uint64_t imageBytes = 0;        // the image's size, from its ELF headers
  std::string imageHash;          // FNV-1a 64 of the image, hex: names it when it has no build ID
};

// Compiles this process's vDSO. False with `*failure` set when there is none (AT_SYSINFO_EHDR is
// 0), its headers do not describe an ELF image inside its mapping, or it has no CFI (ENOCFI).
bool CompileVdsoUnwindTable(size_t maxRows, VdsoTable* out, Failure* failure);
