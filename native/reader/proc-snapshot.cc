#include "proc-snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

// Reads up to `cap` bytes of a /proc file through the process directory. /proc files are
// generated per read: read until EOF or the cap.
bool ReadProcFile(int dir, const char* name, size_t cap, std::string* out, bool* truncated) {
  UniqueFd fd(openat(dir, name, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  out->clear();
  *truncated = false;
  char buf[65536];
  while (out->size() < cap) {
    const size_t want = std::min(sizeof buf, cap - out->size());
    ssize_t n = read(fd.get(), buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return !out->empty();
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
  // At the cap: one more byte says whether there was more.
  char probe;
  *truncated = read(fd.get(), &probe, 1) > 0;
  return true;
}

bool ParseHex(const char*& p, uint64_t* value) {
  char* end = nullptr;
  errno = 0;
  *value = strtoull(p, &end, 16);
  if (end == p || errno != 0) return false;
  p = end;
  return true;
}

// "Uid:\t0\t0\t0\t0" and "NSpid:\t4242\t1" from /proc/PID/status.
void ParseStatus(const std::string& text, ProcessSnapshot* snapshot) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.compare(0, 4, "Uid:") == 0) {
      char* p = nullptr;
      snapshot->uid = strtoll(line.c_str() + 4, &p, 10);
      snapshot->euid = strtoll(p, nullptr, 10);
    } else if (line.compare(0, 6, "NSpid:") == 0) {
      // The last field is the pid in the innermost namespace.
      const char* p = line.c_str() + 6;
      long last = 0;
      while (*p != '\0') {
        char* next = nullptr;
        long value = strtol(p, &next, 10);
        if (next == p) break;
        last = value;
        p = next;
      }
      if (last > 0) snapshot->namespacePid = static_cast<int>(last);
    }
  }
}

}  // namespace

bool ReadCommandLine(int procDir, size_t maxBytes, std::string* cmdline, bool* truncated) {
  if (!ReadProcFile(procDir, "cmdline", maxBytes, cmdline, truncated)) return false;
  while (!cmdline->empty() && cmdline->back() == '\0') cmdline->pop_back();
  return true;
}

bool ReadProcessCommandLine(const ProcessRef& ref, size_t maxBytes, std::string* cmdline,
                            bool* truncated, Failure* failure) {
  UniqueFd dir = OpenProcessDir(ref, failure);
  if (!dir.valid()) return false;
  if (!ReadCommandLine(dir.get(), maxBytes, cmdline, truncated)) {
    *failure = CodeFailure("EGONE", "/proc/" + std::to_string(ref.pid) + "/cmdline", "the process has exited");
    return false;
  }
  return true;
}

void ParseExecutableMappings(const std::string& text, size_t maxPathBytes,
                             std::vector<ExecutableMapping>* out) {
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    // 7f1c2a000000-7f1c2a1c5000 r-xp 00026000 fd:01 1837    /usr/lib/x86_64-linux-gnu/libc.so.6
    const char* p = text.c_str() + at;
    const char* lineEnd = text.c_str() + eol;
    at = eol + 1;
    ExecutableMapping m;
    if (!ParseHex(p, &m.start) || *p++ != '-' || !ParseHex(p, &m.end) || *p++ != ' ') continue;
    if (lineEnd - p < 5 || p[2] != 'x') continue;  // "r-xp": executable only
    p += 5;
    uint64_t major = 0;
    uint64_t minor = 0;
    if (!ParseHex(p, &m.offset) || *p++ != ' ' || !ParseHex(p, &major) || *p++ != ':' ||
        !ParseHex(p, &minor) || *p++ != ' ') {
      continue;
    }
    char* end = nullptr;
    m.inode = strtoull(p, &end, 10);
    if (end == p) continue;
    p = end;
    while (p < lineEnd && *p == ' ') p++;
    m.devMajor = static_cast<uint32_t>(major);
    m.devMinor = static_cast<uint32_t>(minor);
    m.path.assign(p, std::min<size_t>(lineEnd - p, maxPathBytes));
    static const char kDeleted[] = " (deleted)";
    const size_t deletedLen = sizeof kDeleted - 1;
    if (m.path.size() > deletedLen &&
        m.path.compare(m.path.size() - deletedLen, deletedLen, kDeleted) == 0) {
      m.path.resize(m.path.size() - deletedLen);
    }
    // Anonymous executable memory (inode 0) keeps its special name ("[vdso]") or none.
    if (m.inode == 0 && (m.path.empty() || m.path[0] != '[')) m.path.clear();
    out->push_back(std::move(m));
  }
}

bool ReadProcessSnapshot(const ProcessRef& ref, const SnapshotLimits& limits,
                         ProcessSnapshot* snapshot, Failure* failure) {
  UniqueFd dir = OpenProcessDir(ref, failure);
  if (!dir.valid()) return false;
  const std::string proc = "/proc/" + std::to_string(ref.pid);

  std::string maps;
  bool truncated = false;
  if (!ReadProcFile(dir.get(), "maps", limits.maxMapsBytes, &maps, &truncated)) {
    *failure = CodeFailure("EGONE", proc + "/maps", "the process has exited");
    return false;
  }
  if (truncated) {  // the last line may be cut: drop it
    const size_t lastLine = maps.rfind('\n');
    maps.resize(lastLine == std::string::npos ? 0 : lastLine);
  }
  snapshot->mappingsTruncated = truncated;
  ParseExecutableMappings(maps, limits.maxPathBytes, &snapshot->mappings);

  // Missing pieces are not fatal: the process may exit between reads, and a kernel thread has no
  // command line; its mappings are what matters most.
  ReadCommandLine(dir.get(), limits.maxCmdlineBytes, &snapshot->cmdline, &snapshot->cmdlineTruncated);
  std::string status;
  snapshot->namespacePid = ref.pid;
  if (ReadProcFile(dir.get(), "status", 64 << 10, &status, &truncated)) ParseStatus(status, snapshot);

  struct stat own;
  struct stat theirs;
  UniqueFd root(openat(dir.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC));
  snapshot->sharesRoot = root.valid() && fstat(root.get(), &theirs) == 0 &&
                         stat("/", &own) == 0 && own.st_dev == theirs.st_dev &&
                         own.st_ino == theirs.st_ino;
  return true;
}
