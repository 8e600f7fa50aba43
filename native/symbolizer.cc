// Symbolizer: file offsets inside an ELF file -> function names (demangled), inlined frames and
// file:line, through elfutils' libdwfl. One Dwfl session per file, kept in an LRU keyed by the
// caller's cache key; lookups run on the libuv pool (Napi::AsyncWorker) and settle a Promise.
//
// Ownership: a Module owns its Dwfl, and the Dwfl owns the file descriptor once dwfl_report_elf
// succeeded (dwfl_end closes it). Workers hold a shared_ptr to the Module they use, so evicting
// or clearing the cache while a lookup runs only drops the cache's reference.
#include "symbolizer.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

// libiberty.h (pulled in by demangle.h) declares its own `basename` unless told that the C
// library already has one, which clashes with glibc's C++ overloads from <string.h>.
#define HAVE_DECL_BASENAME 1
#include <libiberty/demangle.h>

namespace {

constexpr double kDefaultMaxModules = 64;
constexpr double kMaxMaxModules = 65536;
// DIE trees nested deeper than this are treated as corrupt rather than walked.
constexpr int kMaxScopeDepth = 128;
// DW_AT_abstract_origin / DW_AT_specification hops followed to find a function's name.
constexpr int kMaxOriginHops = 8;

// ---------------------------------------------------------------------------------------------
// Names

struct FreeDeleter {
  void operator()(void* p) const { free(p); }
};

// libiberty's Rust demangler already drops the legacy "::h<16 hex>" hash; a name whose hash has
// too few distinct digits fails its Rust check and comes back from the Itanium demangler with the
// hash still attached, so drop it here too.
void StripRustHash(std::string* name) {
  constexpr size_t kHashLen = 3 + 16;  // "::h" + 16 hex digits
  if (name->size() <= kHashLen) return;
  const size_t at = name->size() - kHashLen;
  if (name->compare(at, 3, "::h") != 0) return;
  for (size_t i = at + 3; i < name->size(); i++) {
    const char c = (*name)[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return;
  }
  name->erase(at);
}

// C++ (Itanium) and Rust (legacy and v0) names; anything else comes back unchanged.
std::string Demangle(const char* raw) {
  std::unique_ptr<char, FreeDeleter> demangled(
      cplus_demangle(raw, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO));
  if (!demangled) return raw;
  std::string name(demangled.get());
  StripRustHash(&name);
  return name;
}

bool IsCodeSymbol(const GElf_Sym& sym) {
  const int type = GELF_ST_TYPE(sym.st_info);
  return type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE;
}

std::string JoinDir(const char* dir, const char* file) {
  if (file[0] == '/' || dir == nullptr || dir[0] == '\0') return file;
  std::string path(dir);
  if (path.back() != '/') path += '/';
  return path + file;
}

// ---------------------------------------------------------------------------------------------
// Failures: what a rejected Promise carries.

struct Failure {
  std::string code;     // 'ENOENT', 'EACCES', 'ENOTELF', 'EBADELF', 'EDWFL'
  std::string message;  // names the path, says why and, where there is one, what to do
  int err = 0;          // errno of the failed system call, 0 for ELF/DWARF failures
  std::string syscall;  // the failed system call, empty for ELF/DWARF failures
};

Failure SysFailure(const char* syscall, const std::string& path, int err) {
  Failure f;
  const char* name = strerrorname_np(err);
  const char* desc = strerrordesc_np(err);
  f.code = name != nullptr ? name : "EUNKNOWN";
  f.err = err;
  f.syscall = syscall;
  f.message = std::string("cannot ") + syscall + " '" + path + "': " +
              (desc != nullptr ? desc : "unknown error") + " (" + f.code + ")";
  if (err == EACCES || err == EPERM) {
    f.message += "; the profiler needs read access to every mapped binary: run it as root";
  } else if (err == ENOENT) {
    f.message += "; the file may have been deleted or replaced since it was mapped";
  }
  return f;
}

Failure ElfFailure(const char* code, const std::string& path, const std::string& why) {
  Failure f;
  f.code = code;
  f.message = "cannot symbolize '" + path + "': " + why + " (" + code + ")";
  if (f.code == "ENOTELF") {
    f.message += "; only ELF executables and shared libraries can be symbolized";
  } else if (f.code == "EBADELF") {
    f.message += "; the file may be truncated or corrupt, or still being written";
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Configuration shared by every Dwfl session of one Symbolizer. Dwfl_Callbacks keeps a pointer
// to debuginfo_path, so a Config never moves: it lives behind a shared_ptr.

class Config {
 public:
  // `debuginfoPath` uses libdwfl's syntax (see dwfl_standard_find_debuginfo); empty means the
  // default ":.debug:/usr/lib/debug".
  explicit Config(std::string debuginfoPath) : debuginfoPath_(std::move(debuginfoPath)) {
    debuginfoPathPtr_ = debuginfoPath_.empty() ? nullptr : &debuginfoPath_[0];
    callbacks_.find_elf = dwfl_build_id_find_elf;
    callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
    callbacks_.section_address = nullptr;
    callbacks_.debuginfo_path = &debuginfoPathPtr_;
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  const Dwfl_Callbacks* callbacks() const { return &callbacks_; }

 private:
  std::string debuginfoPath_;
  char* debuginfoPathPtr_ = nullptr;
  Dwfl_Callbacks callbacks_{};
};

// ---------------------------------------------------------------------------------------------
// One ELF file and its Dwfl session.

struct Frame {
  std::string name;
  std::string file;  // empty when unknown
  int line = 0;      // 0 when unknown
  bool inlined = false;
};
using Stack = std::vector<Frame>;  // innermost first

struct ModuleFacts {
  std::string buildId;  // lower-case hex, empty when the file has none
  bool hasSymbols = false;
  bool hasDwarf = false;
  std::string debugFile;  // separate debug file, empty when none was found or DWARF is inline
};

struct Segment {  // one PT_LOAD
  uint64_t offset;
  uint64_t filesz;
  uint64_t vaddr;
};

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  void release() { fd_ = -1; }

 private:
  int fd_;
};

struct ElfDeleter {
  void operator()(Elf* elf) const { elf_end(elf); }
};
struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;
using DwflPtr = std::unique_ptr<Dwfl, DwflDeleter>;

class Module {
 public:
  // Opens `path` and reports it to a new Dwfl session; nullptr and `*failure` set on error.
  static std::shared_ptr<Module> Open(const std::shared_ptr<const Config>& config,
                                      const std::string& path, Failure* failure);

  Module(std::shared_ptr<const Config> config, DwflPtr&& dwfl, Dwfl_Module* mod, GElf_Addr bias,
         std::vector<Segment>&& segments)
      : config_(std::move(config)),
        dwfl_(std::move(dwfl)),
        mod_(mod),
        bias_(bias),
        segments_(std::move(segments)) {}

  std::vector<Stack> Symbolize(const std::vector<uint64_t>& fileOffsets);
  ModuleFacts Facts();

 private:
  bool ToAddress(uint64_t fileOffset, GElf_Addr* addr) const;
  Stack Lookup(GElf_Addr addr);
  const std::string& FunctionName(Dwarf_Die* die);

  std::mutex mu_;  // a Dwfl session is not thread-safe: one lookup batch at a time
  // Keeps the Dwfl_Callbacks (and their debuginfo_path) alive as long as the session.
  std::shared_ptr<const Config> config_;
  DwflPtr dwfl_;
  Dwfl_Module* mod_;
  GElf_Addr bias_;  // ELF virtual address -> Dwfl module address
  std::vector<Segment> segments_;
  // Function names by the DIE that names them (Dwarf_Die::addr is unique across the main and
  // alternate debug files); both demangling and qualifying by scope are worth doing once.
  std::unordered_map<const void*, std::string> names_;
};

std::shared_ptr<Module> Module::Open(const std::shared_ptr<const Config>& config,
                                     const std::string& path, Failure* failure) {
  // O_NONBLOCK: a FIFO at `path` must not block the worker thread in open().
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    *failure = SysFailure("open", path, errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    *failure = SysFailure("stat", path, errno);
    return nullptr;
  }
  if (S_ISDIR(st.st_mode)) {
    *failure = SysFailure("open", path, EISDIR);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    *failure = ElfFailure("ENOTELF", path, "not a regular file");
    return nullptr;
  }

  // Check the file ourselves first: libdwfl would accept compressed images and archives, and its
  // errors do not tell "not ELF at all" from "broken ELF".
  std::vector<Segment> segments;
  {
    ElfPtr elf(elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr));
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
      *failure = ElfFailure("EBADELF", path,
                            std::string("bad program headers: ") + elf_errmsg(-1));
      return nullptr;
    }
    for (size_t i = 0; i < phnum; i++) {
      GElf_Phdr phdr;
      if (gelf_getphdr(elf.get(), static_cast<int>(i), &phdr) == nullptr) {
        *failure = ElfFailure("EBADELF", path,
                              std::string("bad program header: ") + elf_errmsg(-1));
        return nullptr;
      }
      if (phdr.p_type == PT_LOAD && phdr.p_filesz > 0) {
        segments.push_back({phdr.p_offset, phdr.p_filesz, phdr.p_vaddr});
      }
    }
    if (segments.empty()) {
      *failure = ElfFailure("EBADELF", path, "no loadable segment (PT_LOAD)");
      return nullptr;
    }
  }

  DwflPtr dwfl(dwfl_begin(config->callbacks()));
  if (!dwfl) {
    *failure = ElfFailure("EDWFL", path, std::string("dwfl_begin: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  dwfl_report_begin(dwfl.get());
  Dwfl_Module* mod = dwfl_report_elf(dwfl.get(), path.c_str(), path.c_str(), fd.get(),
                                     /*base=*/0, /*add_p_vaddr=*/false);
  if (mod == nullptr) {  // the fd is still ours on failure
    *failure = ElfFailure("EBADELF", path, std::string("dwfl_report_elf: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  fd.release();  // the Dwfl module owns it now: dwfl_end closes it
  if (dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0) {
    *failure = ElfFailure("EDWFL", path, std::string("dwfl_report_end: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  GElf_Addr bias = 0;
  if (dwfl_module_getelf(mod, &bias) == nullptr) {
    *failure = ElfFailure("EBADELF", path, std::string("dwfl_module_getelf: ") + dwfl_errmsg(-1));
    return nullptr;
  }
  return std::make_shared<Module>(config, std::move(dwfl), mod, bias, std::move(segments));
}

bool Module::ToAddress(uint64_t fileOffset, GElf_Addr* addr) const {
  for (const Segment& s : segments_) {
    if (fileOffset >= s.offset && fileOffset - s.offset < s.filesz) {
      *addr = fileOffset - s.offset + s.vaddr + bias_;
      return true;
    }
  }
  return false;
}

std::vector<Stack> Module::Symbolize(const std::vector<uint64_t>& fileOffsets) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Stack> stacks;
  stacks.reserve(fileOffsets.size());
  for (uint64_t offset : fileOffsets) {
    GElf_Addr addr;
    stacks.push_back(ToAddress(offset, &addr) ? Lookup(addr) : Stack());
  }
  return stacks;
}

// Appends to `chain` the DIEs below `parent` whose code ranges hold `pc`, outermost first.
// Unlike dwarf_getscopes, which stops at the innermost inlined instance and continues with the
// scopes of its abstract definition, this keeps the concrete chain: every inlined call site and
// the real function around them. Descends only into DIEs that hold `pc` or may contain ones
// that do, the same set libdw's scope walk descends into.
bool FindScopes(Dwarf_Die* parent, Dwarf_Addr pc, std::vector<Dwarf_Die>* chain, int depth) {
  if (depth > kMaxScopeDepth) return false;
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return false;
  do {
    switch (dwarf_tag(&child)) {
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine:
      case DW_TAG_entry_point:
      case DW_TAG_lexical_block:
      case DW_TAG_try_block:
      case DW_TAG_catch_block:
      case DW_TAG_with_stmt:
        if (dwarf_haspc(&child, pc) == 1) {
          chain->push_back(child);
          FindScopes(&child, pc, chain, depth + 1);
          return true;
        }
        break;
      case DW_TAG_namespace:
      case DW_TAG_module:
      case DW_TAG_class_type:
      case DW_TAG_structure_type:
        if (FindScopes(&child, pc, chain, depth + 1)) return true;
        break;
      case DW_TAG_imported_unit: {  // dwz: code shared through a partial unit
        Dwarf_Attribute attr;
        Dwarf_Die unit;
        if (dwarf_formref_die(dwarf_attr(&child, DW_AT_import, &attr), &unit) != nullptr &&
            FindScopes(&unit, pc, chain, depth + 1)) {
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
    for (int i = 1; i < n; i++) {  // scopes[0] is `named` itself
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
  return names_.emplace(named.addr, std::move(name)).first->second;
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

Stack Module::Lookup(GElf_Addr addr) {
  Stack stack;
  GElf_Sym sym;
  GElf_Off symOffset = 0;
  const char* symbol =
      dwfl_module_addrinfo(mod_, addr, &symOffset, &sym, nullptr, nullptr, nullptr);
  if (symbol != nullptr && (!IsCodeSymbol(sym) || symbol[0] == '\0')) symbol = nullptr;

  Dwarf_Addr dwBias = 0;
  Dwarf_Die* cuDie = dwfl_module_addrdie(mod_, addr, &dwBias);
  if (cuDie == nullptr) {  // no DWARF for this address: the symbol alone
    if (symbol != nullptr) stack.push_back({Demangle(symbol), "", 0, false});
    return stack;
  }
  Dwarf_Die cu = *cuDie;
  std::vector<Dwarf_Die> chain;  // outermost first
  FindScopes(&cu, addr - dwBias, &chain, 0);

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
      const std::string& name = FunctionName(&*it);
      stack.push_back({name.empty() ? "[unknown]" : name, file, line, true});
      CallSite(&*it, files, nfiles, compDir, &file, &line);
    } else if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
      function = &*it;
      break;
    }
  }
  // The ELF symbol names the real function: it is what the same code is called where DWARF is
  // missing, so flamegraphs merge. DWARF's name is the fallback.
  std::string name = symbol != nullptr ? Demangle(symbol)
                     : function != nullptr ? FunctionName(function)
                                           : std::string();
  if (name.empty()) {
    if (stack.empty()) return stack;
    name = "[unknown]";
  }
  stack.push_back({std::move(name), std::move(file), line, false});
  return stack;
}

ModuleFacts Module::Facts() {
  std::lock_guard<std::mutex> lock(mu_);
  ModuleFacts facts;
  const unsigned char* bits = nullptr;
  GElf_Addr noteVaddr = 0;
  const int len = dwfl_module_build_id(mod_, &bits, &noteVaddr);
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < len; i++) {
    facts.buildId += kHex[bits[i] >> 4];
    facts.buildId += kHex[bits[i] & 0xf];
  }
  Dwarf_Addr dwBias = 0;
  facts.hasDwarf = dwfl_module_getdwarf(mod_, &dwBias) != nullptr;
  const char* mainFile = nullptr;
  const char* debugFile = nullptr;
  dwfl_module_info(mod_, nullptr, nullptr, nullptr, nullptr, nullptr, &mainFile, &debugFile);
  if (debugFile != nullptr && (mainFile == nullptr || strcmp(debugFile, mainFile) != 0)) {
    facts.debugFile = debugFile;
  }
  // Any defined function symbol, from .symtab (here or in the debug file) or .dynsym alone.
  const int nsyms = dwfl_module_getsymtab(mod_);
  for (int i = 1; i < nsyms && !facts.hasSymbols; i++) {
    GElf_Sym sym;
    GElf_Word shndx = SHN_UNDEF;
    const char* name = dwfl_module_getsym(mod_, i, &sym, &shndx);
    facts.hasSymbols = name != nullptr && GELF_ST_TYPE(sym.st_info) == STT_FUNC &&
                       shndx != SHN_UNDEF && sym.st_value != 0;
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------
// LRU of open modules, shared by a Symbolizer and its in-flight workers.

class ModuleCache {
 public:
  ModuleCache(std::shared_ptr<const Config> config, size_t maxModules)
      : config_(std::move(config)), maxModules_(maxModules) {}

  // The module for `key`, opening `path` on a miss; nullptr and `*failure` set on error.
  std::shared_ptr<Module> Acquire(const std::string& path, const std::string& key,
                                  Failure* failure) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto found = index_.find(key);
      if (found != index_.end()) {
        lru_.splice(lru_.begin(), lru_, found->second);
        return found->second->second;
      }
    }
    // Opened without the lock: a slow disk must not stall lookups in other modules.
    std::shared_ptr<Module> opened = Module::Open(config_, path, failure);
    if (!opened) return nullptr;
    std::list<Entry> evicted;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    auto found = index_.find(key);
    if (found != index_.end()) {  // another worker opened it meanwhile; ours is dropped
      lru_.splice(lru_.begin(), lru_, found->second);
      return found->second->second;
    }
    lru_.emplace_front(key, opened);
    index_[key] = lru_.begin();
    while (lru_.size() > maxModules_) {
      index_.erase(lru_.back().first);
      evicted.splice(evicted.begin(), lru_, std::prev(lru_.end()));
    }
    return opened;
  }

  void Clear() {
    std::list<Entry> dropped;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(mu_);
    index_.clear();
    dropped.swap(lru_);
  }

  size_t Size() {
    std::lock_guard<std::mutex> lock(mu_);
    return lru_.size();
  }

 private:
  using Entry = std::pair<std::string, std::shared_ptr<Module>>;
  std::shared_ptr<const Config> config_;
  const size_t maxModules_;
  std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// ---------------------------------------------------------------------------------------------
// JS glue

Napi::Error JsError(Napi::Env env, const Failure& f, const std::string& path) {
  Napi::Error error = Napi::Error::New(env, f.message);
  error.Set("code", Napi::String::New(env, f.code));
  error.Set("path", Napi::String::New(env, path));
  if (f.err != 0) {
    error.Set("errno", Napi::Number::New(env, -f.err));  // negative, as Node's own fs errors
    error.Set("syscall", Napi::String::New(env, f.syscall));
  }
  return error;
}

[[noreturn]] void ThrowArg(Napi::Env env, const std::string& message, bool range = false) {
  Napi::Error error = range ? Napi::RangeError::New(env, message)
                            : static_cast<Napi::Error>(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, range ? "ERR_OUT_OF_RANGE" : "ERR_INVALID_ARG_TYPE"));
  throw error;
}

// Opens (or finds) the module on the libuv pool, then runs the subclass's work on it.
class ModuleWorker : public Napi::AsyncWorker {
 public:
  ModuleWorker(Napi::Env env, const char* name, std::shared_ptr<ModuleCache> cache,
               std::string path, std::string key)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        cache_(std::move(cache)),
        path_(std::move(path)),
        key_(std::move(key)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  virtual void Run(Module* module) = 0;

  void Execute() override {
    std::shared_ptr<Module> module = cache_->Acquire(path_, key_, &failure_);
    if (!module) {
      SetError(failure_.message);
      return;
    }
    Run(module.get());
  }

  void OnError(const Napi::Error& error) override {
    if (failure_.code.empty()) {  // an exception from Execute, e.g. std::bad_alloc
      deferred_.Reject(error.Value());
      return;
    }
    deferred_.Reject(JsError(Env(), failure_, path_).Value());
  }

  Napi::Promise::Deferred deferred_;

 private:
  std::shared_ptr<ModuleCache> cache_;
  std::string path_;
  std::string key_;
  Failure failure_;
};

class SymbolizeWorker final : public ModuleWorker {
 public:
  SymbolizeWorker(Napi::Env env, std::shared_ptr<ModuleCache> cache, std::string path,
                  std::string key, std::vector<uint64_t>&& offsets)
      : ModuleWorker(env, "tail2:symbolize", std::move(cache), std::move(path), std::move(key)),
        offsets_(std::move(offsets)) {}

 protected:
  void Run(Module* module) override { stacks_ = module->Symbolize(offsets_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array result = Napi::Array::New(env, stacks_.size());
    for (size_t i = 0; i < stacks_.size(); i++) {
      const Stack& stack = stacks_[i];
      Napi::Array frames = Napi::Array::New(env, stack.size());
      for (size_t j = 0; j < stack.size(); j++) {
        const Frame& f = stack[j];
        Napi::Object frame = Napi::Object::New(env);
        frame.Set("name", Napi::String::New(env, f.name));
        if (!f.file.empty()) frame.Set("file", Napi::String::New(env, f.file));
        if (f.line > 0) frame.Set("line", Napi::Number::New(env, f.line));
        frame.Set("inlined", Napi::Boolean::New(env, f.inlined));
        frames.Set(static_cast<uint32_t>(j), frame);
      }
      result.Set(static_cast<uint32_t>(i), frames);
    }
    deferred_.Resolve(result);
  }

 private:
  std::vector<uint64_t> offsets_;
  std::vector<Stack> stacks_;
};

class ModuleInfoWorker final : public ModuleWorker {
 public:
  ModuleInfoWorker(Napi::Env env, std::shared_ptr<ModuleCache> cache, std::string path,
                   std::string key)
      : ModuleWorker(env, "tail2:moduleInfo", std::move(cache), std::move(path), std::move(key)) {}

 protected:
  void Run(Module* module) override { facts_ = module->Facts(); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object info = Napi::Object::New(env);
    if (!facts_.buildId.empty()) info.Set("buildId", Napi::String::New(env, facts_.buildId));
    info.Set("hasSymbols", Napi::Boolean::New(env, facts_.hasSymbols));
    info.Set("hasDwarf", Napi::Boolean::New(env, facts_.hasDwarf));
    if (!facts_.debugFile.empty()) info.Set("debugFile", Napi::String::New(env, facts_.debugFile));
    deferred_.Resolve(info);
  }

 private:
  ModuleFacts facts_;
};

class SymbolizerWrap : public Napi::ObjectWrap<SymbolizerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Symbolizer",
                       {
                           InstanceMethod<&SymbolizerWrap::Symbolize>("symbolize"),
                           InstanceMethod<&SymbolizerWrap::ModuleInfo>("moduleInfo"),
                           InstanceMethod<&SymbolizerWrap::Clear>("clear"),
                           InstanceAccessor<&SymbolizerWrap::Size>("size"),
                       });
  }

  // new Symbolizer({ maxModules?: number, debugDirectories?: string[] })
  explicit SymbolizerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SymbolizerWrap>(info) {
    Napi::Env env = info.Env();
    double maxModules = kDefaultMaxModules;
    std::string debuginfoPath;  // empty: libdwfl's default
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!info[0].IsObject()) ThrowArg(env, "Symbolizer options must be an object");
      Napi::Object options = info[0].As<Napi::Object>();
      Napi::Value max = options.Get("maxModules");
      if (!max.IsUndefined()) {
        if (!max.IsNumber()) ThrowArg(env, "options.maxModules must be a number");
        maxModules = max.As<Napi::Number>().DoubleValue();
        if (!(maxModules >= 1 && maxModules <= kMaxMaxModules) ||
            maxModules != static_cast<double>(static_cast<int64_t>(maxModules))) {
          ThrowArg(env, "options.maxModules must be an integer from 1 to 65536", true);
        }
      }
      Napi::Value dirs = options.Get("debugDirectories");
      if (!dirs.IsUndefined()) {
        if (!dirs.IsArray()) ThrowArg(env, "options.debugDirectories must be an array of paths");
        // ":.debug" keeps the lookups next to the binary (.gnu_debuglink); the absolute
        // directories are roots for both .build-id/xx/yyyy.debug and debuglink names.
        debuginfoPath = ":.debug";
        Napi::Array list = dirs.As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); i++) {
          Napi::Value dir = list.Get(i);
          std::string path = dir.IsString() ? dir.As<Napi::String>().Utf8Value() : "";
          if (path.empty() || path[0] != '/' || path.find(':') != std::string::npos) {
            ThrowArg(env, "options.debugDirectories[" + std::to_string(i) +
                              "] must be an absolute path without ':'");
          }
          debuginfoPath += ":" + path;
        }
      }
    }
    cache_ = std::make_shared<ModuleCache>(std::make_shared<Config>(std::move(debuginfoPath)),
                                           static_cast<size_t>(maxModules));
  }

 private:
  static std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (info.Length() <= i || !info[i].IsString()) {
      ThrowArg(info.Env(), std::string(what) + " must be a string");
    }
    std::string value = info[i].As<Napi::String>().Utf8Value();
    if (value.empty()) ThrowArg(info.Env(), std::string(what) + " must not be empty");
    return value;
  }

  // symbolize(path, cacheKey, fileOffsets: BigUint64Array): Promise<Frame[][]>
  Napi::Value Symbolize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string path = StringArg(info, 0, "path");
    std::string key = StringArg(info, 1, "cacheKey");
    if (info.Length() < 3 || !info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
      ThrowArg(env, "fileOffsets must be a BigUint64Array");
    }
    Napi::TypedArrayOf<uint64_t> array = info[2].As<Napi::TypedArrayOf<uint64_t>>();
    // Copied: the worker must not read JS memory off the JS thread.
    std::vector<uint64_t> offsets(array.Data(), array.Data() + array.ElementLength());
    auto* worker =
        new SymbolizeWorker(env, cache_, std::move(path), std::move(key), std::move(offsets));
    Napi::Promise promise = worker->Promise();
    worker->Queue();  // the worker deletes itself when done
    return promise;
  }

  // moduleInfo(path, cacheKey): Promise<{ buildId?, hasSymbols, hasDwarf, debugFile? }>
  Napi::Value ModuleInfo(const Napi::CallbackInfo& info) {
    std::string path = StringArg(info, 0, "path");
    std::string key = StringArg(info, 1, "cacheKey");
    auto* worker = new ModuleInfoWorker(info.Env(), cache_, std::move(path), std::move(key));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  void Clear(const Napi::CallbackInfo&) { cache_->Clear(); }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(cache_->Size()));
  }

  std::shared_ptr<ModuleCache> cache_;
};

// demangle(name: string): string — the demangling the symbolizer applies to symbol names.
Napi::Value DemangleJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) ThrowArg(info.Env(), "name must be a string");
  return Napi::String::New(info.Env(), Demangle(info[0].As<Napi::String>().Utf8Value().c_str()));
}

}  // namespace

void InitSymbolizer(Napi::Env env, Napi::Object exports) {
  if (elf_version(EV_CURRENT) == EV_NONE) {
    throw Napi::Error::New(env, std::string("libelf is too old for this addon: ") +
                                    elf_errmsg(-1) + "; rebuild tail2 against the installed "
                                    "libelf (npm run build)");
  }
  exports.Set("Symbolizer", SymbolizerWrap::Define(env));
  exports.Set("demangle", Napi::Function::New<DemangleJs>(env, "demangle"));
}
