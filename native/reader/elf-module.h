// One ELF file and its libdwfl session: file offsets -> function names (demangled), inlined frames
// and file:line, and what the file carries (build ID, symbols, DWARF).
//
// The file comes from a profiled process, so it is hostile until proven otherwise:
//   - it is opened by the caller (safe-open.h) and read with ELF_C_READ (pread of what is needed)
//     rather than mapped, so truncating it under us yields read errors, not SIGBUS; debug files,
//     which libdwfl maps itself, are covered by the reader's SIGBUS guard (sigbus-guard.h);
//   - debug files are found by debug-files.h, inside the process's root, proven to belong;
//   - every DWARF walk has a step budget, imported units are entered once per lookup, and names
//     are capped, so a self-referencing or enormous DIE tree costs bounded time and memory.
//
// Ownership: a Module owns its Dwfl; the Dwfl owns the main file's descriptor and Elf handle once
// the find_elf callback handed them over (dwfl_end closes both).
#pragma once
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <sys/stat.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "failure.h"
#include "unique-fd.h"

struct ReaderConfig {
  std::vector<std::string> debugDirectories;  // absolute host paths
  uint64_t maxFileSize = 2ull << 30;          // binaries and debug files over this are refused
};

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

struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};
using DwflPtr = std::unique_ptr<Dwfl, DwflDeleter>;

struct Segment {  // one PT_LOAD
  uint64_t offset;
  uint64_t filesz;
  uint64_t vaddr;
};

class Module {
 public:
  // Reads the regular file `fd` (`st` its stat; `path` as the process sees it, for messages).
  // `processRoot` is where debug files next to the binary are looked for (-1: nowhere),
  // `hostRoot` the daemon's root for the configured debug directories. nullptr and `*failure`
  // set on error; `*refused` gets the debug-file candidates that were turned down, and why.
  static std::unique_ptr<Module> Open(const ReaderConfig& config, UniqueFd fd,
                                      const struct stat& st, const std::string& path,
                                      int processRoot, int hostRoot, Failure* failure,
                                      std::vector<Failure>* refused);

  Module(DwflPtr&& dwfl, Dwfl_Module* mod, GElf_Addr bias, std::vector<Segment>&& segments,
         ModuleFacts&& facts)
      : dwfl_(std::move(dwfl)),
        mod_(mod),
        bias_(bias),
        segments_(std::move(segments)),
        facts_(std::move(facts)) {}

  std::vector<Stack> Symbolize(const std::vector<uint64_t>& fileOffsets);
  // The file offsets of the functions (defined, global or weak STT_FUNC symbols) named `names`
  // that the file has: where a uprobe on each goes. Names it does not define are left out.
  std::map<std::string, uint64_t> FunctionOffsets(const std::vector<std::string>& names);
  // The GOT slots of the IFUNC symbols named `names` the file defines (ifunc-targets.h).
  std::map<std::string, std::vector<uint64_t>> IfuncSlots(const std::vector<std::string>& names);
  const ModuleFacts& Facts() const { return facts_; }
  const std::vector<Segment>& Segments() const { return segments_; }
  // The unwind table of the file (and its debug file's .debug_frame): unwind-table.h.
  bool UnwindTable(size_t maxRows, struct UnwindTable* table, std::string* why);

 private:
  bool ToAddress(uint64_t fileOffset, GElf_Addr* addr) const;
  Stack Lookup(GElf_Addr addr);
  // The code symbol holding `addr` (module address), or nullptr: what dwfl_module_addrinfo
  // answers when its symbol is code, from an index built on the first lookup. libdwfl scans the whole symbol
  // table on every call, which for a binary with 100,000 symbols was most of a recording's cost.
  const char* CodeSymbol(GElf_Addr addr);
  void IndexSymbols();
  const std::string& FunctionName(Dwarf_Die* die);

  DwflPtr dwfl_;
  Dwfl_Module* mod_;
  GElf_Addr bias_;  // ELF virtual address -> Dwfl module address
  std::vector<Segment> segments_;
  ModuleFacts facts_;
  // Function names by the DIE that names them (Dwarf_Die::addr is unique across the main and
  // alternate debug files); both demangling and qualifying by scope are worth doing once.
  std::unordered_map<const void*, std::string> names_;

  struct IndexedSymbol {
    GElf_Addr start;
    GElf_Addr end;  // start + st_size; == start for a sizeless symbol (an assembly label)
    GElf_Addr sectionStart, sectionEnd;  // the symbol's section, module addresses (sizeless ones)
    const char* name;  // in the Elf's string table: valid while dwfl_ lives
    uint32_t order;    // index in the symbol table: the first of equals wins, as in libdwfl
    uint8_t binding;   // GLOBAL 3, WEAK 2, LOCAL 1, other 0: higher is preferred
    bool code;         // FUNC, GNU_IFUNC or NOTYPE: a name Lookup reports
  };
  bool indexed_ = false;
  std::vector<IndexedSymbol> symbols_;  // by start, then order
  std::vector<GElf_Addr> maxEnd_;       // maxEnd_[i]: the highest end of symbols_[0..i]
  std::deque<std::string> pltNames_;    // the names of PLT stubs (plt-stubs.h): symbols_ points into it
  // PLT stubs indexed at most: a real binary has a few thousand.
  static constexpr size_t kMaxPltStubs = 65536;
};
