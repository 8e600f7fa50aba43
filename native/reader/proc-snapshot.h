// What the daemon keeps of a process from the moment it is first seen: its executable mappings,
// command line, namespace pid, user ids and whether it shares the daemon's root. Read here, in the
// reader process, because /proc/PID/maps and /proc/PID/cmdline take the process's mmap lock: a
// process can make those reads wait as long as it likes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "failure.h"
#include "safe-open.h"

struct ExecutableMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;  // file offset of `start`
  uint32_t devMajor = 0;
  uint32_t devMinor = 0;
  uint64_t inode = 0;  // 0 for anonymous memory ([vdso], JIT code)
  std::string path;    // '' for anonymous memory; "[vdso]" and the like for specials
};

struct ProcessSnapshot {
  std::string cmdline;  // the arguments as the kernel keeps them (NUL between), at most the cap's bytes
  bool cmdlineTruncated = false;
  std::vector<ExecutableMapping> mappings;
  bool mappingsTruncated = false;  // /proc/PID/maps was longer than the cap
  int namespacePid = 0;            // the pid inside its own pid namespace (names its perf map)
  int64_t uid = -1;                // real and effective user ids (-1 unknown)
  int64_t euid = -1;
  bool sharesRoot = false;
};

struct SnapshotLimits {
  size_t maxCmdlineBytes = 4096;
  size_t maxMapsBytes = 4 << 20;
  size_t maxPathBytes = 4096;
};

// Reads the snapshot of the process `ref` names; false and `*failure` (EGONE) when it is gone.
bool ReadProcessSnapshot(const ProcessRef& ref, const SnapshotLimits& limits,
                         ProcessSnapshot* snapshot, Failure* failure);

// The command line alone (NUL-separated, trailing NULs dropped), at most `maxBytes` of it: what
// the metric collectors need of a new process.
bool ReadProcessCommandLine(const ProcessRef& ref, size_t maxBytes, std::string* cmdline,
                            bool* truncated, Failure* failure);

// The same, through an open /proc/PID directory.
bool ReadCommandLine(int procDir, size_t maxBytes, std::string* cmdline, bool* truncated);

// Parses the executable lines of a /proc/PID/maps text (exposed for tests of the parser).
void ParseExecutableMappings(const std::string& text, size_t maxPathBytes,
                             std::vector<ExecutableMapping>* out);
