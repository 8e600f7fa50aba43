// One ELF file and its libdwfl session: checking the file, handing it to libdwfl, mapping file
// offsets through its PT_LOAD segments, and the DWARF walk that names each frame, inlined ones
// included.
#include "elf-module.h"

#include <dwarf.h>
#include <elfutils/libdwelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "debug-files.h"
#include "demangle.h"
#include "ifunc-targets.h"
#include "plt-stubs.h"
#include "unwind-table.h"

namespace {

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// What the libdwfl callbacks need while a module is being opened; cleared afterwards, so a later
// callback (there should be none) finds nothing to hand out.
struct OpenState {
  int fd = -1;
  Elf* elf = nullptr;
  std::string path;
  DebugSearch search;
};

int FindElf(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, char** fileName, Elf** elfp) {
  auto* state = static_cast<OpenState*>(*userdata);
  if (state == nullptr || state->fd < 0) return -1;
  *fileName = strdup(state->path.c_str());
  *elfp = state->elf;  // read with ELF_C_READ: libdwfl uses it as is
  state->elf = nullptr;
  const int fd = state->fd;
  state->fd = -1;
  return fd;
}

int FindDebuginfo(Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, const char*,
                  const char* debuglinkFile, GElf_Word debuglinkCrc, char** debuginfoFileName) {
  auto* state = static_cast<OpenState*>(*userdata);
  if (state == nullptr) return -1;
  return FindDebugFile(&state->search, debuglinkFile, debuglinkCrc, debuginfoFileName);
}

const Dwfl_Callbacks kCallbacks = {
    .find_elf = FindElf,
    .find_debuginfo = FindDebuginfo,
    .section_address = nullptr,
    .debuginfo_path = nullptr,
};

Failure ElfFailure(const char* code, const std::string& path, const std::string& why) {
  Failure f = CodeFailure(code, path, "cannot symbolize: " + why);
  if (f.code == "ENOTELF") {
    f.message += "; only ELF executables and shared libraries can be symbolized";
  } else if (f.code == "EBADELF") {
    f.message += "; the file may be truncated or corrupt, or still being written";
  }
  return f;
}

}  // namespace

std::unique_ptr<Module> Module::Open(const ReaderConfig& config, UniqueFd fd,
                                     const struct stat& st, const std::string& path,
                                     int processRoot, int hostRoot, Failure* failure,
                                     std::vector<Failure>* refused) {
  if (static_cast<uint64_t>(st.st_size) > config.maxFileSize) {
    *failure = CodeFailure("ETOOBIG", path,
                           "is " + std::to_string(st.st_size) + " bytes, over the " +
                               std::to_string(config.maxFileSize) +
                               "-byte cap (symbols.max_debug_file_size)");
    return nullptr;
  }
  // Check the file ourselves first: libdwfl would accept compressed images and archives, and its
  // errors do not tell "not ELF at all" from "broken ELF".
  ElfPtr elf(elf_begin(fd.get(), ELF_C_READ, nullptr));
  if (!elf) {
    *failure = ElfFailure("EBADELF", path, std::string("cannot read: ") + elf_errmsg(-1));
    return nullptr;
  }
  if (elf_kind(elf.get()) != ELF_K_ELF) {
    *failure = ElfFailure("ENOTELF", path, "not an ELF file");
    return nullptr;
  }
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf.get(), &ehdr) == nullptr) {
    *failure = ElfFailure("EBADELF", path, std::string("bad ELF header: ") + elf_errmsg(-1));
    return nullptr;
  }
  if (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) {
    *failure = ElfFailure("EBADELF", path,
                          "ELF type " + std::to_string(ehdr.e_type) +
                              " is neither an executable nor a shared library");
    return nullptr;
  }
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) {
    *failure = ElfFailure("EBADELF", path, std::string("bad program headers: ") + elf_errmsg(-1));
    return nullptr;
  }
  std::vector<Segment> segments;
  GElf_Addr low = 0;
  GElf_Addr high = 0;
  for (size_t i = 0; i < phnum; i++) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) == nullptr) {
      *failure = ElfFailure("EBADELF", path, std::string("bad program header: ") + elf_errmsg(-1));
      return nullptr;
    }
    if (phdr.p_type != PT_LOAD) continue;
    // libdwfl's own rule for where a module starts: the first PT_LOAD, aligned down. Reporting
    // the module there makes libdwfl's bias zero: module addresses are the file's vaddrs.
    if (segments.empty()) low = phdr.p_align > 1 ? phdr.p_vaddr & -phdr.p_align : phdr.p_vaddr;
    if (phdr.p_vaddr + phdr.p_memsz > high) high = phdr.p_vaddr + phdr.p_memsz;
    if (phdr.p_filesz > 0) segments.push_back({phdr.p_offset, phdr.p_filesz, phdr.p_vaddr});
  }
  if (segments.empty() || high <= low) {
    *failure = ElfFailure("EBADELF", path, "no loadable segment (PT_LOAD)");
    return nullptr;
  }

  OpenState state;
  state.path = path;
  state.search.processRoot = processRoot;
  state.search.hostRoot = hostRoot;
  state.search.binaryPath = path;
  state.search.debugDirectories = config.debugDirectories;
  state.search.maxFileSize = config.maxFileSize;
  {
    const void* bits = nullptr;
    const ssize_t len = dwelf_elf_gnu_build_id(elf.get(), &bits);
    if (len > 0 && bits != nullptr) {
      const uint8_t* p = static_cast<const uint8_t*>(bits);
      state.search.buildId.assign(p, p + len);
    }
    std::string altName;
    std::vector<uint8_t> altId;
    if (ReadAltLink(elf.get(), &altName, &altId)) {
      state.search.altName = altName;
      state.search.altBuildId = altId;
      const size_t slash = path.rfind('/');
      state.search.altBaseDir = slash == std::string::npos ? "." : path.substr(0, slash);
      state.search.altBaseRoot = processRoot;
    }
  }

  DwflPtr dwfl(dwfl_begin(&kCallbacks));
  if (!dwfl) {
    *failure = ElfFailure("EDWFL", path, std::string("dwfl_begin: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  dwfl_report_begin(dwfl.get());
  Dwfl_Module* mod = dwfl_report_module(dwfl.get(), path.c_str(), low, high);
  if (mod == nullptr) {
    *failure = ElfFailure("EBADELF", path, std::string("dwfl_report_module: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  if (dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0) {
    *failure = ElfFailure("EDWFL", path, std::string("dwfl_report_end: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  void** userdata = nullptr;
  dwfl_module_info(mod, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
  state.fd = fd.release();
  state.elf = elf.release();
  *userdata = &state;

  GElf_Addr bias = 0;
  Elf* main = dwfl_module_getelf(mod, &bias);
  if (main == nullptr) {
    *userdata = nullptr;
    // Not handed over (the callback was not reached): ours to free.
    if (state.elf != nullptr) elf_end(state.elf);
    if (state.fd >= 0) close(state.fd);
    *failure = ElfFailure("EBADELF", path, std::string("dwfl_module_getelf: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  // Everything that looks for other files happens now, while the process's root is at hand:
  // the debug file (and its alt file) and the symbol table, which may live in the debug file.
  ModuleFacts facts;
  Dwarf_Addr dwBias = 0;
  facts.hasDwarf = dwfl_module_getdwarf(mod, &dwBias) != nullptr;
  const int nsyms = dwfl_module_getsymtab(mod);
  *userdata = nullptr;
  *refused = std::move(state.search.refused);
  facts.buildId = HexBuildId(state.search.buildId);
  facts.debugFile = state.search.debugFile;
  for (int i = 1; i < nsyms && !facts.hasSymbols; i++) {
    GElf_Sym sym;
    GElf_Word shndx = SHN_UNDEF;
    const char* name = dwfl_module_getsym(mod, i, &sym, &shndx);
    facts.hasSymbols = name != nullptr && GELF_ST_TYPE(sym.st_info) == STT_FUNC &&
                       shndx != SHN_UNDEF && sym.st_value != 0;
  }
  return std::make_unique<Module>(std::move(dwfl), mod, bias, std::move(segments),
                                  std::move(facts));
}

bool Module::UnwindTable(size_t maxRows, struct UnwindTable* table, std::string* why) {
  GElf_Addr bias = 0;
  Elf* main = dwfl_module_getelf(mod_, &bias);
  Dwarf_Addr dwBias = 0;
  Dwarf* dwarf = dwfl_module_getdwarf(mod_, &dwBias);
  Elf* debug = dwarf != nullptr ? dwarf_getelf(dwarf) : nullptr;
  if (debug == main) debug = nullptr;
  if (main == nullptr) {
    *why = "the file could not be read";
    return false;
  }
  return CompileUnwindTable(main, debug, maxRows, table, why);
}

// ---------------------------------------------------------------------------------------------
// Lookups: file offset -> address -> ELF symbol and DWARF scopes

bool Module::ToAddress(uint64_t fileOffset, GElf_Addr* addr) const {
  for (const Segment& s : segments_) {
    if (fileOffset >= s.offset && fileOffset - s.offset < s.filesz) {
      *addr = fileOffset - s.offset + s.vaddr + bias_;
      return true;
    }
  }
  return false;
}

std::map<std::string, uint64_t> Module::FunctionOffsets(const std::vector<std::string>& names) {
  std::map<std::string, uint64_t> offsets;
  const std::set<std::string> wanted(names.begin(), names.end());
  const int count = dwfl_module_getsymtab(mod_);
  for (int i = 1; i < count; i++) {
    GElf_Sym sym;
    GElf_Addr start = 0;
    GElf_Word shndx = SHN_UNDEF;
    const char* name = dwfl_module_getsym_info(mod_, i, &sym, &start, &shndx, nullptr, nullptr);
    const int binding = GELF_ST_BIND(sym.st_info);
    if (name == nullptr || shndx == SHN_UNDEF || GELF_ST_TYPE(sym.st_info) != STT_FUNC || (binding != STB_GLOBAL && binding != STB_WEAK)) continue;
    if (wanted.count(name) == 0 || offsets.count(name) != 0) continue;
    // Module address -> ELF virtual address -> the file offset the loadable segment maps it from.
    const GElf_Addr vaddr = start - bias_;
    for (const Segment& s : segments_) {
      if (vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) {
        offsets[name] = vaddr - s.vaddr + s.offset;
        break;
      }
    }
  }
  return offsets;
}

std::map<std::string, std::vector<uint64_t>> Module::IfuncSlots(const std::vector<std::string>& names) {
  GElf_Addr bias = 0;
  Elf* main = dwfl_module_getelf(mod_, &bias);
  if (main == nullptr) return {};
  return ::IfuncSlots(main, names);
}

std::vector<Stack> Module::Symbolize(const std::vector<uint64_t>& fileOffsets) {
  std::vector<Stack> stacks;
  stacks.reserve(fileOffsets.size());
  for (uint64_t offset : fileOffsets) {
    GElf_Addr addr;
    stacks.push_back(ToAddress(offset, &addr) ? Lookup(addr) : Stack());
  }
  return stacks;
}

namespace {

// DIE trees nested deeper than this are treated as corrupt rather than walked.
constexpr int kMaxScopeDepth = 128;
// DIEs one lookup may visit: real trees need a few thousand; a hostile one gets cut off here.
constexpr int kMaxDieVisits = 200000;
// DW_AT_abstract_origin / DW_AT_specification hops followed to find a function's name.
constexpr int kMaxOriginHops = 8;
// Inlined frames reported for one address.
constexpr size_t kMaxInlinedFrames = 64;
// Bytes of a name kept: longer ones are cut (a mangled name of a megabyte is not a name).
constexpr size_t kMaxNameBytes = 4096;

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

bool IsCodeSymbol(const GElf_Sym& sym) {
  const int type = GELF_ST_TYPE(sym.st_info);
  return type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE;
}

std::string Capped(std::string name) {
  if (name.size() > kMaxNameBytes) {
    name.resize(kMaxNameBytes);
    name += "...";
  }
  return name;
}

std::string JoinDir(const char* dir, const char* file) {
  if (file[0] == '/' || dir == nullptr || dir[0] == '\0') return Capped(file);
  std::string path(dir);
  if (path.back() != '/') path += '/';
  return Capped(path + file);
}

struct ScopeWalk {
  Dwarf_Addr pc;
  std::vector<Dwarf_Die>* chain;
  int visits = 0;
  std::unordered_set<const void*> imported;  // partial units entered in this lookup
};

// Appends to `chain` the DIEs below `parent` whose code ranges hold `pc`, outermost first.
// Unlike dwarf_getscopes, which stops at the innermost inlined instance and continues with the
// scopes of its abstract definition, this keeps the concrete chain: every inlined call site and
// the real function around them. Descends only into DIEs that hold `pc` or may contain ones
// that do, the same set libdw's scope walk descends into.
bool FindScopes(Dwarf_Die* parent, ScopeWalk* walk, int depth) {
  if (depth > kMaxScopeDepth) return false;
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return false;
  do {
    if (++walk->visits > kMaxDieVisits) return false;
    switch (dwarf_tag(&child)) {
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine:
      case DW_TAG_entry_point:
      case DW_TAG_lexical_block:
      case DW_TAG_try_block:
      case DW_TAG_catch_block:
      case DW_TAG_with_stmt:
        if (dwarf_haspc(&child, walk->pc) == 1) {
          walk->chain->push_back(child);
          FindScopes(&child, walk, depth + 1);
          return true;
        }
        break;
      case DW_TAG_namespace:
      case DW_TAG_module:
      case DW_TAG_class_type:
      case DW_TAG_structure_type:
        if (FindScopes(&child, walk, depth + 1)) return true;
        break;
      case DW_TAG_imported_unit: {  // dwz: code shared through a partial unit
        Dwarf_Attribute attr;
        Dwarf_Die unit;
        // Entered once per lookup: a unit that imports itself (or a cycle) is not walked again.
        if (dwarf_formref_die(dwarf_attr(&child, DW_AT_import, &attr), &unit) != nullptr &&
            walk->imported.insert(unit.addr).second && FindScopes(&unit, walk, depth + 1)) {
          return true;
        }
        break;
      }
      default:
        break;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

// The DIE that carries a function's DW_AT_name, following abstract origins and specifications.
bool NamingDie(Dwarf_Die* die, Dwarf_Die* result) {
  Dwarf_Die cur = *die;
  for (int hop = 0; hop < kMaxOriginHops; hop++) {
    if (dwarf_hasattr(&cur, DW_AT_name)) {
      *result = cur;
      return true;
    }
    Dwarf_Attribute attr;
    Dwarf_Attribute* ref = dwarf_attr(&cur, DW_AT_abstract_origin, &attr);
    if (ref == nullptr) ref = dwarf_attr(&cur, DW_AT_specification, &attr);
    Dwarf_Die next;
    if (ref == nullptr || dwarf_formref_die(ref, &next) == nullptr) return false;
    cur = next;
  }
  return false;
}

bool IsCxx(Dwarf_Die* die) {
  Dwarf_Die cu;
  if (dwarf_diecu(die, &cu, nullptr, nullptr) == nullptr) return false;
  switch (dwarf_srclang(&cu)) {
    case DW_LANG_C_plus_plus:
    case DW_LANG_C_plus_plus_03:
    case DW_LANG_C_plus_plus_11:
    case DW_LANG_C_plus_plus_14:
    case DW_LANG_ObjC_plus_plus:
      return true;
    default:
      return false;
  }
}

// The source position of the call an inlined instance stands for: where its caller is.
void CallSite(Dwarf_Die* inlined, Dwarf_Files* files, size_t nfiles, const char* compDir,
              std::string* file, int* line) {
  Dwarf_Attribute attr;
  Dwarf_Word value;
  *line = 0;
  file->clear();
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0 &&
      value <= INT_MAX) {
    *line = static_cast<int>(value);
  }
  if (files != nullptr &&
      dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) == 0 &&
      value < nfiles) {
    const char* name = dwarf_filesrc(files, value, nullptr, nullptr);
    // libdw fills DWARF 4's unused entry 0 with "???".
    if (name != nullptr && strcmp(name, "???") != 0) *file = JoinDir(compDir, name);
  }
}

}  // namespace

// A function's name from DWARF: its demangled linkage name when it has one; otherwise (C, or C++
// functions with internal linkage, which GCC emits without one) DW_AT_name, in C++ qualified by
// its enclosing namespaces and classes. Empty when DWARF names nothing.
const std::string& Module::FunctionName(Dwarf_Die* die) {
  static const std::string kNone;
  Dwarf_Die named;
  if (!NamingDie(die, &named)) return kNone;
  auto cached = names_.find(named.addr);
  if (cached != names_.end()) return cached->second;

  std::string name;
  Dwarf_Attribute attr;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (linkage == nullptr) {
    linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  }
  if (linkage != nullptr) {
    name = Demangle(linkage);
  } else if (const char* plain = dwarf_diename(&named)) {
    name = plain;
    Dwarf_Die* raw = nullptr;
    // dwarf_getscopes_die walks the whole CU, hence the cache and the C++-only restriction.
    const int n = IsCxx(&named) ? dwarf_getscopes_die(&named, &raw) : 0;
    std::unique_ptr<Dwarf_Die, FreeDeleter> scopes(raw);
    for (int i = 1; i < n && name.size() <= kMaxNameBytes; i++) {  // scopes[0] is `named` itself
      switch (dwarf_tag(&scopes.get()[i])) {
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type: {
          const char* scope = dwarf_diename(&scopes.get()[i]);
          name.insert(0, std::string(scope != nullptr ? scope : "(anonymous namespace)") + "::");
          break;
        }
        default:
          break;
      }
    }
  }
  return names_.emplace(named.addr, Capped(std::move(name))).first->second;
}

namespace {

int BindingRank(const GElf_Sym& sym) {
  switch (GELF_ST_BIND(sym.st_info)) {
    case STB_GLOBAL:
      return 3;
    case STB_WEAK:
      return 2;
    case STB_LOCAL:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

void Module::IndexSymbols() {
  indexed_ = true;
  const int count = dwfl_module_getsymtab(mod_);
  for (int i = 1; i < count; i++) {
    GElf_Sym sym;
    GElf_Addr start = 0;
    GElf_Word shndx = SHN_UNDEF;
    Elf* elf = nullptr;
    Dwarf_Addr bias = 0;
    const char* name = dwfl_module_getsym_info(mod_, i, &sym, &start, &shndx, &elf, &bias);
    // Data symbols are indexed too, as libdwfl weighs them: one that holds the address, or ends
    // after a label, hides a code symbol the same way (Lookup then names no symbol).
    const int type = GELF_ST_TYPE(sym.st_info);
    if (name == nullptr || name[0] == '\0' || shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE || type == STT_TLS) continue;
    IndexedSymbol entry{start, start + sym.st_size, 0, 0, name, static_cast<uint32_t>(i), static_cast<uint8_t>(BindingRank(sym)), IsCodeSymbol(sym)};
    if (sym.st_size == 0) {
      // A label is only taken for addresses of its own section (libdwfl's rule too).
      GElf_Shdr shdr;
      Elf_Scn* scn = elf != nullptr && shndx != SHN_ABS && shndx < SHN_LORESERVE ? elf_getscn(elf, shndx) : nullptr;
      if (scn == nullptr || gelf_getshdr(scn, &shdr) == nullptr) continue;
      entry.sectionStart = shdr.sh_addr + bias;
      entry.sectionEnd = entry.sectionStart + shdr.sh_size;
    }
    symbols_.push_back(entry);
  }
  // PLT stubs, named after their targets: below every real symbol (binding 0, last in order), so
  // one that covers the same bytes still wins.
  GElf_Addr mainBias = 0;
  Elf* main = dwfl_module_getelf(mod_, &mainBias);
  if (main != nullptr) {
    uint32_t order = static_cast<uint32_t>(std::max(count, 0));
    for (PltStub& stub : FindPltStubs(main, kMaxPltStubs)) {
      // Demangled here, the suffix after: the demangler takes no `@plt` (perf's order too).
      pltNames_.push_back(Demangle(stub.target.c_str()) + "@plt");
      const GElf_Addr start = stub.vaddr + mainBias;
      symbols_.push_back({start, start + stub.size, 0, 0, pltNames_.back().c_str(), order++, 0, true});
    }
  }
  std::sort(symbols_.begin(), symbols_.end(), [](const IndexedSymbol& a, const IndexedSymbol& b) {
    return a.start != b.start ? a.start < b.start : a.order < b.order;
  });
  maxEnd_.resize(symbols_.size());
  GElf_Addr highest = 0;
  for (size_t i = 0; i < symbols_.size(); i++) maxEnd_[i] = highest = std::max(highest, symbols_[i].end);
}

// The symbol (code or data) with a size whose range holds `addr`, the closest start first; among equal starts
// GLOBAL over WEAK over LOCAL, then the smaller, then the first in the table. Without one, the
// closest label (sizeless symbol) in the same section, if no sized symbol ends between it and
// `addr`. The backward scan stops where no earlier symbol reaches `addr` (maxEnd_), so it visits
// only the symbols that hold it. A data symbol found means no name, as with libdwfl's answer.
const char* Module::CodeSymbol(GElf_Addr addr) {
  if (!indexed_) IndexSymbols();
  auto after = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                                [](GElf_Addr a, const IndexedSymbol& s) { return a < s.start; });
  if (after == symbols_.begin()) return nullptr;
  const size_t last = static_cast<size_t>(after - symbols_.begin()) - 1;
  const IndexedSymbol* best = nullptr;
  auto better = [](const IndexedSymbol& a, const IndexedSymbol& b) {  // a over b, same start
    if (a.binding != b.binding) return a.binding > b.binding;
    if (a.end != b.end) return a.end < b.end;
    return a.order < b.order;
  };
  for (size_t j = last + 1; j-- > 0 && maxEnd_[j] > addr;) {
    const IndexedSymbol& s = symbols_[j];
    if (best != nullptr && s.start < best->start) break;
    if (s.end > addr && (best == nullptr || better(s, *best))) best = &s;
  }
  if (best != nullptr) return best->code ? best->name : nullptr;
  // No sized symbol holds addr, so every one at or below it ends at or before it: a label
  // below the highest such end belongs to that function, not to addr.
  const GElf_Addr minLabel = maxEnd_[last];
  for (size_t j = last + 1; j-- > 0 && symbols_[j].start >= minLabel;) {
    const IndexedSymbol& s = symbols_[j];
    if (best != nullptr && s.start < best->start) break;
    if (s.end == s.start && addr >= s.sectionStart && addr < s.sectionEnd && (best == nullptr || better(s, *best))) best = &s;
  }
  return best != nullptr && best->code ? best->name : nullptr;
}

Stack Module::Lookup(GElf_Addr addr) {
  Stack stack;
  const char* symbol = CodeSymbol(addr);

  Dwarf_Addr dwBias = 0;
  Dwarf_Die* cuDie = dwfl_module_addrdie(mod_, addr, &dwBias);
  if (cuDie == nullptr) {  // no DWARF for this address: the symbol alone
    if (symbol != nullptr) stack.push_back({Capped(Demangle(symbol)), "", 0, false});
    return stack;
  }
  Dwarf_Die cu = *cuDie;
  std::vector<Dwarf_Die> chain;  // outermost first
  ScopeWalk walk{addr - dwBias, &chain};
  FindScopes(&cu, &walk, 0);

  Dwarf_Attribute attr;
  const char* compDir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &attr));
  Dwarf_Files* files = nullptr;
  size_t nfiles = 0;
  if (dwarf_getsrcfiles(&cu, &files, &nfiles) != 0) files = nullptr;

  // The innermost frame is where the line table puts the address; each inlined instance then
  // moves the position out to its call site, which is where its caller is.
  std::string file;
  int line = 0;
  if (Dwfl_Line* row = dwfl_module_getsrc(mod_, addr)) {
    const char* name = dwfl_lineinfo(row, nullptr, &line, nullptr, nullptr, nullptr);
    if (name != nullptr) {
      file = JoinDir(compDir, name);
    } else {
      line = 0;
    }
  }
  Dwarf_Die* function = nullptr;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const int tag = dwarf_tag(&*it);
    if (tag == DW_TAG_inlined_subroutine) {
      if (stack.size() < kMaxInlinedFrames) {
        const std::string& name = FunctionName(&*it);
        stack.push_back({name.empty() ? "[unknown]" : name, file, line, true});
      }
      CallSite(&*it, files, nfiles, compDir, &file, &line);
    } else if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
      function = &*it;
      break;
    }
  }
  // The ELF symbol names the real function: it is what the same code is called where DWARF is
  // missing, so flamegraphs merge. DWARF's name is the fallback.
  std::string name = symbol != nullptr ? Capped(Demangle(symbol))
                     : function != nullptr ? FunctionName(function)
                                           : std::string();
  if (name.empty()) {
    if (stack.empty()) return stack;
    name = "[unknown]";
  }
  stack.push_back({std::move(name), std::move(file), line, false});
  return stack;
}
