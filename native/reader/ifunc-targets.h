// What a process's IFUNC symbols resolved to. glibc's memcpy, memmove and mempcpy are IFUNCs: a
// resolver the dynamic linker runs at start-up picks a version for the CPU (and the process's
// GLIBC_TUNABLES), such as __memmove_avx_unaligned_erms, and stores its address in the GOT slot
// of each IRELATIVE relocation whose addend is the resolver. A probe on the symbol itself would
// sit on the resolver, which never runs again; the slot says what the process really runs.
#pragma once
#include <gelf.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "elf-module.h"
#include "failure.h"

// The GOT slots (ELF virtual addresses) that hold what each IFUNC symbol of `names` the file
// defines resolved to: its IRELATIVE relocations' targets. Names that are not IFUNCs there, or
// that no relocation names, are left out.
std::map<std::string, std::vector<uint64_t>> IfuncSlots(Elf* elf, const std::vector<std::string>& names);

// Where the process (its /proc/PID/mem open as `memFd`) mapped the file: the executable mapping
// at `mappingStart` from file offset `mappingOffset`, of a file with `segments`.
struct MappedImage {
  int memFd;
  uint64_t mappingStart;
  uint64_t mappingOffset;
  const std::vector<Segment>* segments;
};

// The file offset of the code each IFUNC's slot points at in the process: `slots` from
// IfuncSlots, read from its memory. A slot that is unreadable, still unresolved (lazy binding) or
// points outside the file's loadable segments is skipped; the first good slot of a name wins.
// False with `*failure` set when the file's mapping cannot be placed or memory cannot be read at all.
bool ResolveIfuncs(const MappedImage& image, const std::map<std::string, std::vector<uint64_t>>& slots,
                   std::map<std::string, uint64_t>* offsets, Failure* failure);
