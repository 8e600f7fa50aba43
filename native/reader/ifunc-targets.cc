#include "ifunc-targets.h"

#include <elf.h>
#include <errno.h>
#include <unistd.h>

#include <set>

namespace {

// The machine's IRELATIVE relocation type, or 0 where tail2 does not know it.
uint32_t IrelativeType(Elf* elf) {
  GElf_Ehdr header;
  if (gelf_getehdr(elf, &header) == nullptr) return 0;
  switch (header.e_machine) {
    case EM_X86_64:
      return R_X86_64_IRELATIVE;
    case EM_AARCH64:
      return R_AARCH64_IRELATIVE;
    default:
      return 0;
  }
}

// The resolver address of each IFUNC of `wanted` the file defines, from its symbol tables.
std::map<uint64_t, std::string> Resolvers(Elf* elf, const std::set<std::string>& wanted) {
  std::map<uint64_t, std::string> resolvers;
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (gelf_getshdr(section, &header) == nullptr || (header.sh_type != SHT_DYNSYM && header.sh_type != SHT_SYMTAB) || header.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    if (data == nullptr) continue;
    const size_t count = header.sh_size / header.sh_entsize;
    for (size_t i = 0; i < count; i++) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      if (GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC || sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(elf, header.sh_link, sym.st_name);
      if (name != nullptr && wanted.count(name) != 0) resolvers.emplace(sym.st_value, name);
    }
  }
  return resolvers;
}

}  // namespace

std::map<std::string, std::vector<uint64_t>> IfuncSlots(Elf* elf, const std::vector<std::string>& names) {
  std::map<std::string, std::vector<uint64_t>> slots;
  const uint32_t irelative = IrelativeType(elf);
  if (irelative == 0) return slots;
  const std::map<uint64_t, std::string> resolvers = Resolvers(elf, std::set<std::string>(names.begin(), names.end()));
  if (resolvers.empty()) return slots;
  Elf_Scn* section = nullptr;
  while ((section = elf_nextscn(elf, section)) != nullptr) {
    GElf_Shdr header;
    if (gelf_getshdr(section, &header) == nullptr || header.sh_type != SHT_RELA || header.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(section, nullptr);
    if (data == nullptr) continue;
    const size_t count = header.sh_size / header.sh_entsize;
    for (size_t i = 0; i < count; i++) {
      GElf_Rela rela;
      if (gelf_getrela(data, static_cast<int>(i), &rela) == nullptr) break;
      if (GELF_R_TYPE(rela.r_info) != irelative) continue;
      const auto resolver = resolvers.find(static_cast<uint64_t>(rela.r_addend));
      if (resolver != resolvers.end()) slots[resolver->second].push_back(rela.r_offset);
    }
  }
  return slots;
}

bool ResolveIfuncs(const MappedImage& image, const std::map<std::string, std::vector<uint64_t>>& slots,
                   std::map<std::string, uint64_t>* offsets, Failure* failure) {
  // The load bias: the mapping's first byte is file offset mappingOffset, inside one segment.
  const Segment* mapped = nullptr;
  for (const Segment& s : *image.segments) {
    const uint64_t pageStart = s.offset & ~static_cast<uint64_t>(0xfff);
    if (image.mappingOffset >= pageStart && image.mappingOffset < s.offset + s.filesz) mapped = &s;
  }
  if (mapped == nullptr) {
    *failure = CodeFailure("EBADREQ", "", "the mapping's file offset is in none of the file's loadable segments");
    return false;
  }
  const uint64_t bias = image.mappingStart - image.mappingOffset + mapped->offset - mapped->vaddr;
  int readable = 0;
  int lastErr = 0;
  for (const auto& [name, at] : slots) {
    for (uint64_t slot : at) {
      uint64_t target = 0;
      const ssize_t got = pread(image.memFd, &target, sizeof(target), static_cast<off_t>(bias + slot));
      if (got != static_cast<ssize_t>(sizeof(target))) {
        lastErr = got < 0 ? errno : EIO;
        continue;
      }
      readable++;
      const uint64_t vaddr = target - bias;
      for (const Segment& s : *image.segments) {
        if (target >= bias && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
          offsets->emplace(name, vaddr - s.vaddr + s.offset);
          break;
        }
      }
      if (offsets->count(name) != 0) break;
    }
  }
  if (readable == 0 && !slots.empty()) {
    *failure = SysFailure("pread", "/proc/PID/mem", lastErr);
    return false;
  }
  return true;
}
