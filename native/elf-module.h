// One ELF file and its libdwfl session: file offsets -> function names (demangled), inlined frames
// and file:line, and what the file carries (build ID, symbols, DWARF).
//
// Ownership: a Module owns its Dwfl, and the Dwfl owns the file descriptor once dwfl_report_elf
// succeeded (dwfl_end closes it).
#pragma once
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

// ---------------------------------------------------------------------------------------------
// Failures: what a rejected Promise carries.

struct Failure {
  std::string code;     // 'ENOENT', 'EACCES', 'ENOTELF', 'EBADELF', 'EDWFL'
  std::string message;  // names the path, says why and, where there is one, what to do
  int err = 0;          // errno of the failed system call, 0 for ELF/DWARF failures
  std::string syscall;  // the failed system call, empty for ELF/DWARF failures
};

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

struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};
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
