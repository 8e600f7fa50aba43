// A JIT's symbol file, /tmp/perf-PID.map ("START SIZE name" in hex per line), written by
// `node --perf-basic-prof`, Java's perf-map-agent and others, and appended to for as long as the
// process runs. It belongs to the process: it may be a FIFO, a symlink to another user's file,
// sparse and 8 GiB long, or lines of a megabyte. So it is opened inside the process's root without
// following any symlink, must be a regular file owned by the process's user, and is streamed:
// only the lines that cover an address being asked about are kept, and at most `maxBytes` (its
// newest part, where a JIT's current code is) are read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "failure.h"
#include "safe-open.h"

struct PerfMapRequest {
  ProcessRef process;
  int namespacePid = 0;  // names the file: /tmp/perf-<namespacePid>.map in the process's root
  int64_t uid = -1;      // the file must be owned by one of these (the process's real and
  int64_t euid = -1;     // effective user); -1: unknown (then nothing is read)
  std::vector<uint64_t> addresses;
  uint64_t maxBytes = 256ull << 20;
};

struct PerfMapResult {
  // One entry per requested address: an index into `names`, or -1 when no line covers it.
  std::vector<int32_t> nameOfAddress;
  std::vector<std::string> names;
  uint64_t bytesRead = 0;
  bool truncated = false;  // the file was longer than maxBytes: only its end was read
  uint64_t longLines = 0;  // lines skipped for being longer than a name can be
};

bool ReadPerfMap(const PerfMapRequest& request, PerfMapResult* result, Failure* failure);

// The same parse over bytes already read, for tests: `chunk` may end in the middle of a line.
class PerfMapParser {
 public:
  explicit PerfMapParser(const std::vector<uint64_t>& addresses);
  void Feed(const char* data, size_t size);
  void Finish(PerfMapResult* result);

 private:
  void Line(const char* begin, const char* end);

  std::vector<uint64_t> sorted_;   // the addresses, sorted and unique
  std::vector<size_t> requestOf_;  // for each requested address, its index in sorted_
  std::vector<int32_t> best_;      // for each sorted address, its name (latest line wins)
  std::vector<std::string> names_;
  std::string partial_;            // an unfinished line carried between chunks
  bool skipping_ = false;          // inside a line too long to keep
  uint64_t longLines_ = 0;
};
