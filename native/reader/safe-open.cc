#include "safe-open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

const uint64_t kResolveInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
const uint64_t kResolveInRootNoLinks = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;

namespace {

constexpr int kOpenFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

// Field 22 of /proc/PID/stat, read through the /proc/PID descriptor; 0 when unreadable.
uint64_t StartTicks(int procDir) {
  UniqueFd fd(openat(procDir, "stat", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return 0;
  char buf[1024];
  ssize_t n = pread(fd.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // comm may hold spaces and parentheses: count fields from the last ')'.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return 0;
  p++;
  for (int field = 2; field < 22 && *p != '\0'; p++) {
    if (*p == ' ') field++;
  }
  return strtoull(p, nullptr, 10);
}

const char* FileType(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

bool CheckRegular(int fd, const std::string& path, struct stat* st, Failure* failure) {
  if (fstat(fd, st) != 0) {
    *failure = SysFailure("stat", path, errno);
    return false;
  }
  if (S_ISDIR(st->st_mode)) {
    *failure = SysFailure("open", path, EISDIR);
    return false;
  }
  if (!S_ISREG(st->st_mode)) {
    *failure = CodeFailure("ENOTREG", path,
                           std::string("is ") + FileType(st->st_mode) +
                               ", not a regular file: tail2 reads only regular files of a process");
    return false;
  }
  return true;
}

bool SameFile(const struct stat& st, const MappedFile& file) {
  return major(st.st_dev) == file.devMajor && minor(st.st_dev) == file.devMinor &&
         st.st_ino == file.inode;
}

}  // namespace

UniqueFd OpenProcessDir(const ProcessRef& ref, Failure* failure) {
  if (ref.pid <= 0) {
    *failure = CodeFailure("EGONE", "/proc/" + std::to_string(ref.pid), "no such process");
    return UniqueFd();
  }
  const std::string path = "/proc/" + std::to_string(ref.pid);
  UniqueFd dir(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  // Checked through the descriptor: it stays bound to this process even if the pid is reused.
  if (!dir.valid() || (ref.startTicks != 0 && StartTicks(dir.get()) != ref.startTicks)) {
    *failure = CodeFailure("EGONE", path, "the process has exited");
    return UniqueFd();
  }
  return dir;
}

UniqueFd OpenHostRoot(Failure* failure) {
  UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) *failure = SysFailure("open", "/", errno);
  return root;
}

UniqueFd OpenProcessRoot(const ProcessRef& ref, Failure* failure) {
  Failure gone;
  UniqueFd dir = OpenProcessDir(ref, &gone);
  if (dir.valid()) {
    // A magic link, opened on purpose: it is the kernel's own reference to the process's root.
    UniqueFd root(openat(dir.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root.valid()) return root;
    *failure = SysFailure("open", "/proc/" + std::to_string(ref.pid) + "/root", errno);
    return UniqueFd();
  }
  if (ref.sharesRoot) return OpenHostRoot(failure);
  *failure = CodeFailure("EGONE", "/proc/" + std::to_string(ref.pid) + "/root",
                         "the process has exited and its root directory (another mount "
                         "namespace or chroot) can no longer be reached");
  return UniqueFd();
}

UniqueFd OpenRegularInRoot(int rootFd, const std::string& path, uint64_t resolve, struct stat* st,
                           Failure* failure) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = kOpenFlags;
  how.resolve = resolve;
  long fd = -1;
  // RESOLVE_IN_ROOT answers EAGAIN when a concurrent rename or mount might have let the walk
  // escape; trying again is what the man page says to do.
  for (int attempt = 0; attempt < 4; attempt++) {
    fd = syscall(SYS_openat2, rootFd, path.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
  }
  if (fd < 0) {
    *failure = SysFailure("openat2", path, errno);
    return UniqueFd();
  }
  UniqueFd opened(static_cast<int>(fd));
  if (!CheckRegular(opened.get(), path, st, failure)) return UniqueFd();
  return opened;
}

UniqueFd OpenMappedFile(const ProcessRef& ref, const MappedFile& file, struct stat* st,
                        Failure* failure) {
  Failure gone;
  UniqueFd dir = OpenProcessDir(ref, &gone);
  if (dir.valid() && file.end > file.start) {
    char name[64];
    snprintf(name, sizeof name, "map_files/%" PRIx64 "-%" PRIx64, file.start, file.end);
    UniqueFd fd(openat(dir.get(), name, kOpenFlags));
    if (fd.valid()) {
      if (!CheckRegular(fd.get(), file.path, st, failure)) return UniqueFd();
      if (SameFile(*st, file)) return fd;
    }
    // EPERM without the capability, ENOENT once the mapping is gone: try the path.
  }
  UniqueFd root;
  if (dir.valid()) {
    root = UniqueFd(openat(dir.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) {
      *failure = SysFailure("open", "/proc/" + std::to_string(ref.pid) + "/root", errno);
      return UniqueFd();
    }
  } else {
    root = OpenProcessRoot(ref, failure);
    if (!root.valid()) return UniqueFd();
  }
  UniqueFd fd = OpenRegularInRoot(root.get(), file.path, kResolveInRoot, st, failure);
  if (!fd.valid()) return UniqueFd();
  if (!SameFile(*st, file)) {
    *failure = CodeFailure("EMISMATCH", file.path,
                           "is not the file the process mapped (another device or inode): it "
                           "was replaced since, so it is not read");
    return UniqueFd();
  }
  return fd;
}
