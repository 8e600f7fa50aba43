#include "unwind-maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "unwind.h"

namespace {

size_t PageBytes() {
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<size_t>(page) : 4096;
}

// Copies `bytes` to byte `offset` of an mmapable array's values through a mapping of just the
// pages they cover. 0 or a positive errno.
int WriteThroughMmap(int fd, size_t offset, const void* data, size_t bytes) {
  if (bytes == 0) return 0;
  const size_t page = PageBytes();
  const size_t first_page = offset / page * page;
  const size_t length = (offset + bytes - first_page + page - 1) / page * page;
  void* area = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(first_page));
  if (area == MAP_FAILED) return errno;
  memcpy(static_cast<uint8_t*>(area) + (offset - first_page), data, bytes);
  munmap(area, length);
  return 0;
}

}  // namespace

UnwindMaps::~UnwindMaps() { Detach(); }

int UnwindMaps::Attach(struct bpf_map* rows, struct bpf_map* mappings, struct bpf_map* processes, std::string* what) {
  Detach();
  if (bpf_map__value_size(rows) != sizeof(struct tail2_unwind_row) ||
      bpf_map__value_size(mappings) != sizeof(struct tail2_unwind_mapping) ||
      bpf_map__value_size(processes) != sizeof(struct tail2_unwind_process)) {
    *what = "check the unwind maps' value sizes against bpf/unwind.h";
    return EINVAL;
  }
  rows_fd_ = bpf_map__fd(rows);
  mappings_fd_ = bpf_map__fd(mappings);
  processes_fd_ = bpf_map__fd(processes);
  row_capacity_ = bpf_map__max_entries(rows);
  mapping_capacity_ = bpf_map__max_entries(mappings);
  process_capacity_ = bpf_map__max_entries(processes);
  if (rows_fd_ < 0 || mappings_fd_ < 0 || processes_fd_ < 0) {
    Detach();
    *what = "find the unwind maps of the loaded object";
    return EBADF;
  }
  return 0;
}

void UnwindMaps::Detach() {
  rows_fd_ = mappings_fd_ = processes_fd_ = -1;
}

uint64_t UnwindMaps::MemoryBytes() const {
  const size_t page = PageBytes();
  auto rounded = [page](uint64_t bytes) { return (bytes + page - 1) / page * page; };
  // A hash entry is its key and value plus the kernel's htab_elem header (about 48 bytes).
  const uint64_t process_entry = sizeof(__u32) + sizeof(struct tail2_unwind_process) + 48;
  return rounded(static_cast<uint64_t>(row_capacity_) * sizeof(struct tail2_unwind_row)) +
         rounded(static_cast<uint64_t>(mapping_capacity_) * sizeof(struct tail2_unwind_mapping)) +
         static_cast<uint64_t>(process_capacity_) * process_entry;
}

int UnwindMaps::WriteRows(uint32_t first, const void* rows, size_t count) {
  if (rows_fd_ < 0) return ENODEV;
  if (first > row_capacity_ || count > row_capacity_ - first) return EINVAL;
  return WriteThroughMmap(rows_fd_, static_cast<size_t>(first) * sizeof(struct tail2_unwind_row), rows,
                          count * sizeof(struct tail2_unwind_row));
}

int UnwindMaps::SetProcess(uint32_t tgid, uint64_t start_time_ns, uint32_t first, const uint64_t* words, size_t count) {
  if (mappings_fd_ < 0) return ENODEV;
  if (first > mapping_capacity_ || count > mapping_capacity_ - first || count > TAIL2_MAX_PROCESS_MAPPINGS) return EINVAL;
  std::vector<struct tail2_unwind_mapping> out(count);
  for (size_t i = 0; i < count; i++) {
    const uint64_t* w = words + i * 5;
    if (w[3] > row_capacity_ || w[4] > row_capacity_ - w[3] || w[4] >= TAIL2_MAX_FILE_ROWS || w[1] <= w[0]) return EINVAL;
    if (i > 0 && w[0] < out[i - 1].end) return EINVAL;  // sorted, not overlapping: the walk's binary search needs it
    out[i].start = w[0];
    out[i].end = w[1];
    out[i].bias = w[2];
    out[i].rows_first = static_cast<__u32>(w[3]);
    out[i].rows_count = static_cast<__u32>(w[4]);
  }
  const int err = WriteThroughMmap(mappings_fd_, static_cast<size_t>(first) * sizeof(struct tail2_unwind_mapping), out.data(),
                                   count * sizeof(struct tail2_unwind_mapping));
  if (err != 0) return err;
  struct tail2_unwind_process process;
  memset(&process, 0, sizeof(process));
  process.start_time_ns = start_time_ns;
  process.mappings_first = first;
  process.mappings_count = static_cast<__u32>(count);
  // The mappings are in place before the entry that points at them (x86 keeps stores in order).
  if (bpf_map_update_elem(processes_fd_, &tgid, &process, BPF_ANY) != 0) return errno;
  return 0;
}

int UnwindMaps::DeleteProcess(uint32_t tgid) {
  if (processes_fd_ < 0) return 0;
  if (bpf_map_delete_elem(processes_fd_, &tgid) != 0 && errno != ENOENT) return errno;
  return 0;
}
