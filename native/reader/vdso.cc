#include "vdso.h"

#include <elf.h>
#include <elfutils/libdwelf.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/auxv.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "debug-files.h"

namespace {

// The image is two pages today; one claiming more than this is not a vDSO.
constexpr uint64_t kMaxVdsoBytes = 1u << 20;

// The end of the mapping that starts at `start`, from /proc/self/maps; 0 when it cannot be read.
// Only the start of each line is parsed: a long line arrives in pieces, and a piece of a path
// ("dead-beef") must not be taken for an address range.
uint64_t MappingEnd(uint64_t start) {
  std::unique_ptr<FILE, decltype(&fclose)> maps(fopen("/proc/self/maps", "re"), fclose);
  if (!maps) return 0;
  char line[256];
  bool atLineStart = true;
  while (fgets(line, sizeof line, maps.get()) != nullptr) {
    const bool lineStart = atLineStart;
    atLineStart = strchr(line, '\n') != nullptr;
    unsigned long long lo = 0;
    unsigned long long hi = 0;
    if (lineStart && sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo == start && hi > lo) return hi;
  }
  return 0;
}

// How far the ELF image at `base` extends (headers, segments, section headers), or 0 when its
// header is not a 64-bit little-endian ELF header or it does not fit in `limit` bytes.
uint64_t ImageExtent(const uint8_t* base, uint64_t limit) {
  if (limit < sizeof(Elf64_Ehdr)) return 0;
  Elf64_Ehdr ehdr;
  memcpy(&ehdr, base, sizeof ehdr);
  if (memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0 || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
      ehdr.e_ident[EI_DATA] != ELFDATA2LSB || ehdr.e_phentsize != sizeof(Elf64_Phdr)) {
    return 0;
  }
  uint64_t extent = sizeof ehdr;
  const uint64_t phEnd = ehdr.e_phoff + static_cast<uint64_t>(ehdr.e_phnum) * sizeof(Elf64_Phdr);
  if (ehdr.e_phoff > limit || phEnd > limit) return 0;
  extent = std::max(extent, phEnd);
  for (uint16_t i = 0; i < ehdr.e_phnum; i++) {
    Elf64_Phdr phdr;
    memcpy(&phdr, base + ehdr.e_phoff + i * sizeof(Elf64_Phdr), sizeof phdr);
    if (phdr.p_type != PT_LOAD) continue;
    if (phdr.p_offset > limit || phdr.p_filesz > limit - phdr.p_offset) return 0;
    extent = std::max(extent, phdr.p_offset + phdr.p_filesz);
  }
  if (ehdr.e_shnum > 0) {
    const uint64_t shEnd = ehdr.e_shoff + static_cast<uint64_t>(ehdr.e_shnum) * ehdr.e_shentsize;
    if (ehdr.e_shoff > limit || shEnd > limit) return 0;
    extent = std::max(extent, shEnd);
  }
  return extent;
}

std::string Fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

struct ElfEnd {
  void operator()(Elf* elf) const { elf_end(elf); }
};

}  // namespace

bool CompileVdsoUnwindTable(size_t maxRows, VdsoTable* out, Failure* failure) {
  const uint64_t base = getauxval(AT_SYSINFO_EHDR);
  if (base == 0) {
    *failure = CodeFailure("ENOVDSO", "[vdso]", "this process has no vDSO (AT_SYSINFO_EHDR is 0)");
    return false;
  }
  // The mapping bounds what may be read; without /proc, the image's own headers (the kernel's).
  const uint64_t end = MappingEnd(base);
  const uint64_t limit = end != 0 ? std::min(end - base, kMaxVdsoBytes) : kMaxVdsoBytes;
  const uint8_t* image = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(base));
  const uint64_t extent = ImageExtent(image, limit);
  if (extent == 0) {
    *failure = CodeFailure("EBADELF", "[vdso]", "the vDSO's ELF headers do not describe an image inside its mapping");
    return false;
  }
  // libelf gets a copy: it may not write to the kernel's pages, and the copy is what is hashed.
  std::string copy(reinterpret_cast<const char*>(image), extent);
  out->imageBytes = extent;
  out->imageHash = Fnv1a64(copy);
  std::unique_ptr<Elf, ElfEnd> elf(elf_memory(copy.data(), copy.size()));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    *failure = CodeFailure("EBADELF", "[vdso]", std::string("libelf cannot read the vDSO: ") + elf_errmsg(-1));
    return false;
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) phnum = 0;
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) == nullptr || phdr.p_type != PT_LOAD || phdr.p_filesz == 0) continue;
    out->segments.push_back({phdr.p_offset, phdr.p_filesz, phdr.p_vaddr});
  }
  const void* bits = nullptr;
  const ssize_t len = dwelf_elf_gnu_build_id(elf.get(), &bits);
  if (len > 0 && bits != nullptr) {
    const uint8_t* p = static_cast<const uint8_t*>(bits);
    out->buildId = HexBuildId(std::vector<uint8_t>(p, p + len));
  }
  std::string why;
  if (!CompileUnwindTable(elf.get(), nullptr, maxRows, &out->table, &why)) {
    *failure = CodeFailure(out->table.stats.refused.empty() ? "ENOCFI" : "EBADCFI", "[vdso]", why);
    return false;
  }
  return true;
}
