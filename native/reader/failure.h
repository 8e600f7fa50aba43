// What a failed request carries back to the daemon: a stable code, a message a person can act
// on, and for system-call failures the errno and the call. Messages name paths (which profiled
// processes control; the daemon escapes them where it shows them) but never a byte of a file's
// contents.
#pragma once
#include <string>

struct Failure {
  // ENOENT, EACCES, ... for system calls; ENOTREG (not a regular file), EMISMATCH (not the file
  // the process mapped), ENOTOWNER (a perf map another user owns), ETOOBIG (over the size cap),
  // EGONE (the process exited and its root is unreachable), ENOTELF, EBADELF, EDWFL, EBADREQ.
  std::string code;
  std::string message;
  int err = 0;          // errno of the failed system call, 0 otherwise
  std::string syscall;  // the failed system call, empty otherwise
};

// "cannot <syscall> '<path>': <strerror> (<ENAME>)", with a hint for the common causes.
Failure SysFailure(const char* syscall, const std::string& path, int err);

// A failure that is not a system call's: `code` and a sentence saying why.
Failure CodeFailure(const char* code, const std::string& path, const std::string& why);
