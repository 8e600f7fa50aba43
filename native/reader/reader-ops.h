// The requests the reader answers, one JSON object each (docs/internals.md, "The reader"):
//   snapshot    a process's executable mappings, command line, ids     (proc-snapshot.h)
//   cmdline     a process's command line alone
//   symbolize   file offsets in one mapped file -> frames              (elf-module.h)
//   module_info what one mapped file carries (build ID, symbols, DWARF)
//   build_id    one mapped file's GNU build ID alone, from its notes (no DWARF opened)
//   unwind_table one mapped file's unwind table (unwind-table.h), to a file or inline (base64)
//   vdso_unwind_table the same for the reader's own vDSO, the image every 64-bit process maps (vdso.h)
//   perf_map    addresses -> names from the process's /tmp/perf-PID.map (perf-map.h)
//   demangle    names -> demangled names
//   clear       closes every open module
//   stats       open modules and heap in use
// Each answer carries the request's `id`, and either `result` or `error` {code, message, errno?,
// syscall?}; `faulted: true` when a file shrank under the reader while it answered.
#pragma once
#include <string>

#include "elf-module.h"
#include "module-cache.h"

class ReaderOps {
 public:
  ReaderOps(ReaderConfig config, size_t maxModules, size_t maxHeapBytes)
      : config_(std::move(config)), cache_(maxModules, maxHeapBytes) {}

  // One request's JSON text in, the answer's JSON text out. Never throws.
  std::string Handle(const std::string& request);

 private:
  ReaderConfig config_;
  ModuleCache cache_;
};
