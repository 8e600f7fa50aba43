// The sampler's unwind-table maps (bpf/user-stack.h) seen from userspace. The rows and mappings
// arrays are BPF_F_MMAPABLE: a write maps the pages it covers, copies, and unmaps them, so
// loading a file's table is a memcpy rather than a syscall per row, and the tables never count
// in tail2d's own RSS. Processes are a hash updated through bpf(2). Ranges are allocated by the
// daemon (daemon/unwind/); this only checks that what it writes stays inside the maps.
#pragma once
#include <linux/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

struct bpf_map;

class UnwindMaps {
 public:
  UnwindMaps() = default;
  ~UnwindMaps();
  UnwindMaps(const UnwindMaps&) = delete;
  UnwindMaps& operator=(const UnwindMaps&) = delete;

  // Takes the maps of the loaded object. Returns 0 or a positive errno; `what` says what failed.
  int Attach(struct bpf_map* rows, struct bpf_map* mappings, struct bpf_map* processes, std::string* what);
  void Detach();

  uint32_t row_capacity() const { return row_capacity_; }
  uint32_t mapping_capacity() const { return mapping_capacity_; }
  uint32_t process_capacity() const { return process_capacity_; }
  // Bytes of kernel memory the three maps take (arrays whole, the hash at its capacity).
  uint64_t MemoryBytes() const;

  // Copies `count` rows (struct tail2_unwind_row) to index `first`. Returns 0, EINVAL when they
  // do not fit, or the errno of mmap.
  int WriteRows(uint32_t first, const void* rows, size_t count);
  // Writes a process's mappings at `first` (5 u64 per mapping: start, end, bias, rows_first,
  // rows_count) and points the process's entry at them. Returns 0 or a positive errno (EINVAL
  // for a range outside the map or a mapping whose rows are).
  int SetProcess(uint32_t tgid, uint64_t start_time_ns, uint32_t first, const uint64_t* words, size_t count);
  // 0, or a positive errno; a process that has no entry is not an error.
  int DeleteProcess(uint32_t tgid);

 private:
  int rows_fd_ = -1;
  int mappings_fd_ = -1;
  int processes_fd_ = -1;
  uint32_t row_capacity_ = 0;
  uint32_t mapping_capacity_ = 0;
  uint32_t process_capacity_ = 0;
};
