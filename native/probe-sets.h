// The probe sets attached to processes (bpf/sampler.h): one profile's session uprobes in one
// process (its allocator's entry points, its copy functions), each set with a slot of the BPF
// side's per-set counters, where its calls are counted for the overhead guard.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

// The file the probe offsets were read from: the mapped file must still be it.
struct ProbeFile {
  uint32_t devMajor = 0;
  uint32_t devMinor = 0;
  uint64_t inode = 0;
};

// Why a set could not be attached: `code` for programs (ENOENT, EMISMATCH, ENOSPC, EATTACH…),
// `message` for people; the caller says "cannot probe … in PID N".
struct ProbeAttachError {
  std::string code;
  std::string message;
};

class ProbeSets {
 public:
  using Key = std::pair<std::string, uint32_t>;  // profile (malloc, memcpy), pid
  struct Program {
    std::string name;  // what the offsets call it (bpf/allocations.h, bpf/copies.h)
    int fd;
  };

  explicit ProbeSets(size_t maxSets) : maxSets_(maxSets) {}
  ~ProbeSets() { Clear(); }
  ProbeSets(const ProbeSets&) = delete;
  ProbeSets& operator=(const ProbeSets&) = delete;

  // Attaches each program at its `offsets` of the file at `path` (a /proc/PID/map_files/ link),
  // for thread group `key.second` only, replacing the key's set. The file is opened once and
  // checked to be `file`, and the kernel is given that open file (/proc/self/fd/N): what it
  // probes is what was checked, whatever the process maps there meanwhile. `resetSlot` zeroes the
  // set's counters before any probe can count (0 or an errno). Every probe's cookie is
  // `cookieBits` with the slot from TAIL2_PROBE_COOKIE_SLOT_SHIFT up. The links made, or -1 with
  // `*error` set and nothing left attached.
  int Attach(const Key& key, const std::string& path, const ProbeFile& file, const std::vector<Program>& programs,
             const std::map<std::string, std::vector<uint64_t>>& offsets, uint64_t cookieBits, uint32_t attachType,
             const std::function<int(uint32_t slot)>& resetSlot, ProbeAttachError* error);

  // Removes the key's set (none is fine).
  void Detach(const Key& key);
  // The key's slot, or -1 when it has no set.
  int Slot(const Key& key) const;
  // Sets of `profile` attached now.
  size_t Count(const std::string& profile) const;
  // Removes every set.
  void Clear();

 private:
  int FreeSlot() const;

  size_t maxSets_;
  std::map<Key, std::vector<int>> links_;
  std::map<Key, int> slots_;
};

// Sums, over every CPU, the `count` entries of the per-CPU array `mapFd` from `first`: 0 or an errno.
int SumPerCpuEntries(int mapFd, uint32_t first, uint32_t count, std::vector<uint64_t>* sums);
// Sets those entries to 0 on every CPU: 0 or an errno.
int ZeroPerCpuEntries(int mapFd, uint32_t first, uint32_t count);
