// Opening files on behalf of a profiled process, which controls them: its binaries' paths, its
// perf map, the debug files next to its binaries. Every open here
//   - never blocks: O_NONBLOCK, and anything but a regular file (a FIFO, socket or device) is
//     refused after the open, before a single read;
//   - never leaves the process's root: paths are resolved by openat2(2) inside /proc/PID/root
//     with RESOLVE_IN_ROOT, so an absolute symlink or ".." lands inside that root, and magic
//     links (/proc/self/fd/N, /proc/PID/root) are not followed;
//   - opens the file the process really mapped: device and inode are compared with what
//     /proc/PID/maps said, so a path replaced by a symlink to /etc/shadow opens nothing.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "failure.h"
#include "unique-fd.h"

// The process a file is opened for.
struct ProcessRef {
  int pid = 0;
  // /proc/PID/stat field 22 (start time in clock ticks since boot); with the pid it names one
  // process, so a reused pid is never mistaken for it. 0: not checked.
  uint64_t startTicks = 0;
  // Its root directory was the daemon's own when it was first seen: after it exits, its files
  // are still found from "/" (and must still be the inode it mapped).
  bool sharesRoot = false;
};

// One file mapping of the process, as /proc/PID/maps gave it.
struct MappedFile {
  std::string path;  // absolute, as the process sees it
  uint32_t devMajor = 0;
  uint32_t devMinor = 0;
  uint64_t inode = 0;
  uint64_t start = 0;  // the mapping's addresses, for /proc/PID/map_files/START-END
  uint64_t end = 0;
};

// openat2 resolve flags for the two kinds of lookups.
extern const uint64_t kResolveInRoot;        // IN_ROOT | NO_MAGICLINKS
extern const uint64_t kResolveInRootNoLinks;  // ... | NO_SYMLINKS: perf maps

// /proc/PID of the process `ref` names, as a directory descriptor; invalid (and `*failure` set
// to EGONE) when it exited or its pid now belongs to another process.
UniqueFd OpenProcessDir(const ProcessRef& ref, Failure* failure);

// The process's root directory: /proc/PID/root while it runs; "/" after it exited if it shared
// the daemon's root; otherwise invalid with EGONE.
UniqueFd OpenProcessRoot(const ProcessRef& ref, Failure* failure);

// The daemon's own root, for the debug directories it is configured with.
UniqueFd OpenHostRoot(Failure* failure);

// Resolves `path` inside `rootFd` and opens it read-only, non-blocking; then checks that it is a
// regular file (filling `*st`). `resolve` is kResolveInRoot or kResolveInRootNoLinks.
UniqueFd OpenRegularInRoot(int rootFd, const std::string& path, uint64_t resolve, struct stat* st,
                           Failure* failure);

// The file the process mapped: through /proc/PID/map_files while it runs (the kernel's own
// reference to the mapped file; needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else by path
// inside its root. Either way the device and inode must be the mapped ones.
UniqueFd OpenMappedFile(const ProcessRef& ref, const MappedFile& file, struct stat* st,
                        Failure* failure);
