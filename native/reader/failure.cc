#include "failure.h"

#include <string.h>

#include <cerrno>

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
  } else if (err == ENOSYS && std::string(syscall) == "openat2") {
    f.message += "; tail2 needs Linux 5.6 or newer (openat2) to open files of profiled processes";
  } else if (err == EXDEV || err == ELOOP) {
    f.message += "; the path leaves the process's root or goes through a link tail2 does not follow";
  }
  return f;
}

Failure CodeFailure(const char* code, const std::string& path, const std::string& why) {
  Failure f;
  f.code = code;
  f.message = "'" + path + "': " + why + " (" + code + ")";
  return f;
}
