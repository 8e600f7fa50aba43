#include "plt-stubs.h"
#include <string.h>
#include <algorithm>
#include <unordered_map>

namespace {

// Relocations read in all of a file's sections at most: a real .rela.plt has thousands, a
// hostile file (many overlapping relocation sections) is cut here.
constexpr size_t kMaxRelocations = 1u << 20;
// Bytes of PLT sections scanned in all, and the longest target name taken: a real .plt is a few
// KiB and names are short; a hostile file may repeat one huge section or point at a huge string.
constexpr size_t kMaxScannedBytes = 4u << 20;
constexpr size_t kMaxNameBytes = 1024;

// GOT slot address -> the name of the symbol its relocation fills it with (JUMP_SLOT: the lazy
// PLT's slots; GLOB_DAT: .plt.got's, for functions whose address is also taken).
std::unordered_map<GElf_Addr, const char*> SlotNames(Elf* elf) {
  std::unordered_map<GElf_Addr, const char*> slots;
  size_t read = 0;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr && read < kMaxRelocations; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_RELA) continue;
    Elf_Scn* symbols = elf_getscn(elf, shdr.sh_link);
    GElf_Shdr symbolsHeader;
    if (symbols == nullptr || gelf_getshdr(symbols, &symbolsHeader) == nullptr) continue;
    Elf_Data* relocations = elf_getdata(scn, nullptr);
    Elf_Data* symbolData = elf_getdata(symbols, nullptr);
    const size_t entry = gelf_fsize(elf, ELF_T_RELA, 1, EV_CURRENT);
    if (relocations == nullptr || symbolData == nullptr || entry == 0) continue;
    const size_t count = relocations->d_size / entry;
    for (size_t i = 0; i < count && read < kMaxRelocations; i++, read++) {
      GElf_Rela rela;
      if (gelf_getrela(relocations, static_cast<int>(i), &rela) == nullptr) break;
      const auto type = GELF_R_TYPE(rela.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      GElf_Sym sym;
      if (gelf_getsym(symbolData, static_cast<int>(GELF_R_SYM(rela.r_info)), &sym) == nullptr) continue;
      if (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC && GELF_ST_TYPE(sym.st_info) != STT_NOTYPE) continue;
      const char* name = elf_strptr(elf, symbolsHeader.sh_link, sym.st_name);
      if (name != nullptr && name[0] != '\0' && strnlen(name, kMaxNameBytes + 1) <= kMaxNameBytes) slots.emplace(rela.r_offset, name);
    }
  }
  return slots;
}

}  // namespace

std::vector<PltStub> FindPltStubs(Elf* elf, size_t maxStubs) {
  std::vector<PltStub> stubs;
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr || ehdr.e_machine != EM_X86_64) return stubs;
  size_t names = 0;
  if (elf_getshdrstrndx(elf, &names) != 0) return stubs;
  std::unordered_map<GElf_Addr, const char*> slots;
  bool slotsRead = false;
  size_t scanned = 0;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr && stubs.size() < maxStubs && scanned < kMaxScannedBytes; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_PROGBITS || (shdr.sh_flags & SHF_EXECINSTR) == 0) continue;
    const char* section = elf_strptr(elf, names, shdr.sh_name);
    if (section == nullptr || (strcmp(section, ".plt") != 0 && strcmp(section, ".plt.sec") != 0 && strcmp(section, ".plt.got") != 0)) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) continue;
    if (!slotsRead) {
      slots = SlotNames(elf);
      slotsRead = true;
    }
    // Entries are 16 bytes (8 in a .plt.got without IBT); the section says which.
    const size_t stride = shdr.sh_entsize == 8 || shdr.sh_entsize == 16 ? shdr.sh_entsize : 16;
    const auto* bytes = static_cast<const unsigned char*>(data->d_buf);
    const size_t size = std::min(data->d_size, kMaxScannedBytes - scanned);
    scanned += size;
    for (size_t at = 0; at + stride <= size && stubs.size() < maxStubs; at += stride) {
      // The entry's `jmp *disp32(%rip)` (ff 25), after an endbr64 and a bnd prefix when the
      // linker wrote them: its target is the GOT slot, whose relocation names the function.
      for (size_t op = at; op + 6 <= at + stride; op++) {
        if (bytes[op] != 0xff || bytes[op + 1] != 0x25) continue;
        int32_t displacement;
        memcpy(&displacement, bytes + op + 2, sizeof(displacement));
        const GElf_Addr slot = shdr.sh_addr + op + 6 + static_cast<GElf_Addr>(static_cast<int64_t>(displacement));
        auto found = slots.find(slot);
        if (found != slots.end()) stubs.push_back({shdr.sh_addr + at, stride, found->second});
        break;
      }
    }
  }
  return stubs;
}
