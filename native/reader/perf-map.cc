#include "perf-map.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace {

// Longer lines are not JIT symbols (V8's longest names are a few KiB): skipped, not buffered.
constexpr size_t kMaxLineBytes = 16 << 10;
constexpr size_t kChunkBytes = 1 << 20;

bool ParseHexField(const char*& p, const char* end, uint64_t* value) {
  if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
  const char* start = p;
  uint64_t v = 0;
  while (p < end) {
    const char c = *p;
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else break;
    if (v >> 60) return false;  // more than 64 bits
    v = v << 4 | static_cast<uint64_t>(digit);
    p++;
  }
  *value = v;
  return p > start;
}

}  // namespace

PerfMapParser::PerfMapParser(const std::vector<uint64_t>& addresses) : sorted_(addresses) {
  std::sort(sorted_.begin(), sorted_.end());
  sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
  best_.assign(sorted_.size(), -1);
  requestOf_.reserve(addresses.size());
  for (uint64_t a : addresses) {
    requestOf_.push_back(std::lower_bound(sorted_.begin(), sorted_.end(), a) - sorted_.begin());
  }
}

void PerfMapParser::Line(const char* begin, const char* end) {
  const char* p = begin;
  uint64_t start = 0;
  uint64_t size = 0;
  if (!ParseHexField(p, end, &start) || p >= end || *p++ != ' ') return;
  if (!ParseHexField(p, end, &size) || p >= end || *p++ != ' ') return;
  if (size == 0 || start + size < start) return;
  auto first = std::lower_bound(sorted_.begin(), sorted_.end(), start);
  if (first == sorted_.end() || *first >= start + size) return;  // covers nothing asked about
  if (end > p && end[-1] == '\r') end--;
  names_.emplace_back(p, end);
  const int32_t name = static_cast<int32_t>(names_.size() - 1);
  for (auto it = first; it != sorted_.end() && *it < start + size; ++it) {
    best_[it - sorted_.begin()] = name;  // a later line for the same code wins (JITs reuse memory)
  }
}

void PerfMapParser::Feed(const char* data, size_t size) {
  const char* p = data;
  const char* end = data + size;
  while (p < end) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', end - p));
    const char* lineEnd = nl != nullptr ? nl : end;
    if (skipping_) {
      if (nl != nullptr) skipping_ = false;
    } else if (partial_.size() + (lineEnd - p) > kMaxLineBytes) {
      partial_.clear();
      longLines_++;
      skipping_ = nl == nullptr;
    } else if (nl == nullptr) {
      partial_.append(p, lineEnd);
    } else if (!partial_.empty()) {
      partial_.append(p, lineEnd);
      Line(partial_.data(), partial_.data() + partial_.size());
      partial_.clear();
    } else {
      Line(p, lineEnd);
    }
    p = nl != nullptr ? nl + 1 : end;
  }
}

void PerfMapParser::Finish(PerfMapResult* result) {
  if (!partial_.empty() && !skipping_) Line(partial_.data(), partial_.data() + partial_.size());
  partial_.clear();
  // Keep only the names some address ended up with, renumbered.
  std::unordered_map<int32_t, int32_t> kept;
  result->names.clear();
  result->nameOfAddress.clear();
  for (size_t sortedIndex : requestOf_) {
    const int32_t name = best_[sortedIndex];
    if (name < 0) {
      result->nameOfAddress.push_back(-1);
      continue;
    }
    auto found = kept.find(name);
    if (found == kept.end()) {
      found = kept.emplace(name, static_cast<int32_t>(result->names.size())).first;
      result->names.push_back(std::move(names_[name]));
    }
    result->nameOfAddress.push_back(found->second);
  }
  result->longLines = longLines_;
}

bool ReadPerfMap(const PerfMapRequest& request, PerfMapResult* result, Failure* failure) {
  UniqueFd root = OpenProcessRoot(request.process, failure);
  if (!root.valid()) return false;
  const std::string path = "/tmp/perf-" + std::to_string(request.namespacePid) + ".map";
  struct stat st;
  UniqueFd fd = OpenRegularInRoot(root.get(), path, kResolveInRootNoLinks, &st, failure);
  if (!fd.valid()) return false;
  const bool ownedByProcess = (request.uid >= 0 && st.st_uid == static_cast<uid_t>(request.uid)) ||
                              (request.euid >= 0 && st.st_uid == static_cast<uid_t>(request.euid));
  if (!ownedByProcess) {
    *failure = CodeFailure("ENOTOWNER", path,
                           "is owned by uid " + std::to_string(st.st_uid) +
                               ", not by the process's user: it is not the process's map and is "
                               "not read");
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // A sparse file (a hole of gigabytes) is not a JIT's log: its blocks say how little is there.
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  if (size > (64u << 20) && allocated < size / 8) {
    *failure = CodeFailure("ETOOBIG", path,
                           "is sparse (" + std::to_string(size) + " bytes long, " +
                               std::to_string(allocated) + " allocated): not a perf map");
    return false;
  }
  uint64_t at = 0;
  if (size > request.maxBytes) {
    at = size - request.maxBytes;  // the newest part; the first, cut line is skipped below
    result->truncated = true;
  }
  PerfMapParser parser(request.addresses);
  std::vector<char> buf(kChunkBytes);
  bool first = true;
  while (result->bytesRead < request.maxBytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), request.maxBytes - result->bytesRead));
    ssize_t n = pread(fd.get(), buf.data(), want, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *failure = SysFailure("read", path, errno);
      return false;
    }
    if (n == 0) break;
    const char* data = buf.data();
    size_t len = static_cast<size_t>(n);
    if (first && result->truncated) {  // started mid-line: drop up to the first newline
      const char* nl = static_cast<const char*>(memchr(data, '\n', len));
      const size_t skip = nl != nullptr ? static_cast<size_t>(nl - data) + 1 : len;
      data += skip;
      len -= skip;
    }
    first = false;
    parser.Feed(data, len);
    at += static_cast<uint64_t>(n);
    result->bytesRead += static_cast<uint64_t>(n);
  }
  parser.Finish(result);
  return true;
}
