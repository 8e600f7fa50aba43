// tail2-reader: reads what profiled processes control — their /proc files, binaries, debug files
// and perf maps — in a process of its own, for tail2d and `tail2 record`. A hostile file can make
// it hang, crash or balloon; the daemon then kills and restarts it, and nothing of the daemon's
// is lost (daemon/symbols/reader-process.ts).
//
//   tail2-reader [--debug-dir DIR]... [--max-file-size BYTES] [--max-modules N]
//                [--max-memory BYTES]
//
// Protocol on stdin/stdout: each message is a 4-byte little-endian length and that many bytes of
// JSON; one answer per request, in order (reader-ops.h). It exits when stdin closes or when
// tail2d dies (PR_SET_PDEATHSIG).
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <libelf.h>

#include "reader-ops.h"
#include "sigbus-guard.h"

namespace {

constexpr uint32_t kMaxRequestBytes = 64u << 20;

bool ReadExactly(int fd, void* buf, size_t len) {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteExactly(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

[[noreturn]] void Usage(const char* why) {
  fprintf(stderr, "tail2-reader: %s\n", why);
  fprintf(stderr,
          "usage: tail2-reader [--debug-dir DIR]... [--max-file-size BYTES] [--max-modules N] "
          "[--max-memory BYTES]\n");
  exit(2);
}

uint64_t NumberArg(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) Usage("a flag is missing its value");
  char* end = nullptr;
  const uint64_t value = strtoull(argv[++*i], &end, 10);
  if (end == argv[*i] || *end != '\0' || value == 0) Usage("flag values are positive integers");
  return value;
}

}  // namespace

// How much lower than tail2d's the readers' scheduling priority is (nice(2)).
constexpr int kNiceIncrement = 5;

int main(int argc, char** argv) {
  ReaderConfig config;
  uint64_t maxModules = 64;
  uint64_t maxMemory = 1ull << 30;
  for (int i = 1; i < argc; i++) {
    const std::string flag = argv[i];
    if (flag == "--debug-dir") {
      if (i + 1 >= argc || argv[i + 1][0] != '/') Usage("--debug-dir takes an absolute path");
      config.debugDirectories.push_back(argv[++i]);
    } else if (flag == "--max-file-size") {
      config.maxFileSize = NumberArg(argc, argv, &i);
    } else if (flag == "--max-modules") {
      maxModules = NumberArg(argc, argv, &i);
    } else if (flag == "--max-memory") {
      maxMemory = NumberArg(argc, argv, &i);
    } else {
      Usage(("unknown flag " + flag).c_str());
    }
  }

  // Dies with the daemon, even when the daemon is SIGKILLed; and if it already died, now.
  const pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 1;
  // Below the processes it reads for: compiling a large binary's unwind table or symbols is
  // background work, and the host's own work comes first. Relative to tail2d's niceness, so
  // the unit's Nice= carries over. Failing to lower it is harmless.
  errno = 0;
  if (nice(kNiceIncrement) == -1 && errno != 0) {
    // stays at the daemon's priority
  }
  // No core dumps (they would hold file contents) and nobody else may attach to it.
  struct rlimit noCore = {0, 0};
  setrlimit(RLIMIT_CORE, &noCore);
  prctl(PR_SET_DUMPABLE, 0);
  // The memory budget: malloc fails past it, libdw reports that, and the request fails alone.
  struct rlimit data = {maxMemory, maxMemory};
  if (setrlimit(RLIMIT_DATA, &data) != 0) perror("tail2-reader: setrlimit(RLIMIT_DATA)");
  // elfutils would ask debuginfod servers on the network for missing debug files.
  unsetenv("DEBUGINFOD_URLS");
  signal(SIGPIPE, SIG_IGN);
  InstallSigbusGuard();
  if (elf_version(EV_CURRENT) == EV_NONE) {
    fprintf(stderr, "tail2-reader: libelf is too old: %s\n", elf_errmsg(-1));
    return 1;
  }

  ReaderOps ops(std::move(config), maxModules, maxMemory / 2);
  std::string request;
  for (;;) {
    uint8_t header[4];
    if (!ReadExactly(STDIN_FILENO, header, sizeof header)) return 0;  // the daemon closed: done
    const uint32_t len = header[0] | header[1] << 8 | header[2] << 16 |
                         static_cast<uint32_t>(header[3]) << 24;
    if (len > kMaxRequestBytes) {
      fprintf(stderr, "tail2-reader: a request of %u bytes is over the limit\n", len);
      return 1;
    }
    request.resize(len);
    if (!ReadExactly(STDIN_FILENO, request.data(), len)) return 0;
    const std::string answer = ops.Handle(request);
    const uint32_t out = static_cast<uint32_t>(answer.size());
    const uint8_t outHeader[4] = {static_cast<uint8_t>(out), static_cast<uint8_t>(out >> 8),
                                  static_cast<uint8_t>(out >> 16), static_cast<uint8_t>(out >> 24)};
    if (!WriteExactly(STDOUT_FILENO, outHeader, sizeof outHeader) ||
        !WriteExactly(STDOUT_FILENO, answer.data(), answer.size())) {
      return 0;
    }
  }
}
