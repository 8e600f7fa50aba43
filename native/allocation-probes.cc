#include "allocation-probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

namespace {

// The BPF_LINK_CREATE part of union bpf_attr as Linux 6.6+ lays it out for a uprobe_multi link
// (include/uapi/linux/bpf.h: link_create, then its uprobe_multi member). The kernel zero-fills
// what a shorter attr leaves out.
struct UprobeMultiLinkAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t cnt;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t padding;
};
static_assert(sizeof(UprobeMultiLinkAttr) == 64, "uprobe_multi link attr layout");

constexpr int kBpfLinkCreate = 28;  // enum bpf_cmd: BPF_LINK_CREATE

struct AllocKey {  // struct alloc_key in bpf/allocations.h
  uint32_t tgid;
  uint32_t zero;
  uint64_t address;
};

}  // namespace

int UprobeSessionAttachType(std::string* why) {
  struct btf* btf = btf__load_vmlinux_btf();
  if (btf == nullptr) {
    *why = "the kernel's BTF (/sys/kernel/btf/vmlinux) could not be read: " + std::string(strerror(errno));
    return -1;
  }
  int value = -1;
  const int type_id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
  if (type_id > 0) {
    const struct btf_type* type = btf__type_by_id(btf, type_id);
    const struct btf_enum* values = btf_enum(type);
    for (int i = 0; i < btf_vlen(type); i++) {
      const char* name = btf__name_by_offset(btf, values[i].name_off);
      if (name != nullptr && strcmp(name, "BPF_TRACE_UPROBE_SESSION") == 0) value = static_cast<int>(values[i].val);
    }
  }
  const bool kfuncs = btf__find_by_name_kind(btf, "bpf_session_is_return", BTF_KIND_FUNC) > 0 &&
                      btf__find_by_name_kind(btf, "bpf_session_cookie", BTF_KIND_FUNC) > 0;
  btf__free(btf);
  if (value < 0 || !kfuncs) {
    *why = "this kernel has no session uprobes (BPF_TRACE_UPROBE_SESSION and its kfuncs, Linux 6.13 and later)";
    return -1;
  }
  return value;
}

int AttachUprobeSession(int prog_fd, uint32_t attach_type, const std::string& path, const std::vector<uint64_t>& offsets,
                        uint64_t cookie, uint32_t pid) {
  if (offsets.empty()) return -EINVAL;
  const std::vector<uint64_t> cookies(offsets.size(), cookie);
  UprobeMultiLinkAttr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = attach_type;
  attr.path = reinterpret_cast<uintptr_t>(path.c_str());
  attr.offsets = reinterpret_cast<uintptr_t>(offsets.data());
  attr.cookies = reinterpret_cast<uintptr_t>(cookies.data());
  attr.cnt = static_cast<uint32_t>(offsets.size());
  attr.pid = pid;
  const long fd = syscall(__NR_bpf, kBpfLinkCreate, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

std::string DescribeAttachError(int err) {
  switch (err) {
    case ESRCH:
      return "the process is gone";
    case EPERM:
    case EACCES:
      return "permission denied: probing another process's allocator needs root (CAP_SYS_ADMIN, for /proc/PID/map_files, and CAP_BPF with CAP_PERFMON)";
    case ENOENT:
      return "the mapping is gone (the process unmapped the file or exited)";
    case EINVAL:
      return "the kernel refused the probe offsets (not instructions of this file?)";
    case EMFILE:
    case ENFILE:
      return "out of file descriptors (raise LimitNOFILE)";
    default:
      return strerror(err);
  }
}

long ForgetProcessAllocations(int map_fd, uint32_t tgid) {
  // Keys are collected first: deleting the key get_next_key stands on would restart the walk.
  std::vector<AllocKey> doomed;
  AllocKey key;
  AllocKey next;
  const AllocKey* previous = nullptr;
  while (bpf_map_get_next_key(map_fd, previous, &next) == 0) {
    if (next.tgid == tgid) doomed.push_back(next);
    key = next;
    previous = &key;
  }
  if (errno != ENOENT) return -errno;
  long deleted = 0;
  for (const AllocKey& k : doomed) {
    if (bpf_map_delete_elem(map_fd, &k) == 0) deleted++;
    else if (errno != ENOENT) return -errno;
  }
  return deleted;
}

std::vector<uint32_t> ExponentialGapTable(unsigned steps, unsigned shift) {
  std::vector<uint32_t> table(steps);
  for (unsigned i = 0; i < steps; i++) {
    const double u = (static_cast<double>(i) + 0.5) / steps;
    table[i] = static_cast<uint32_t>(std::lround(-std::log(u) * static_cast<double>(1u << shift)));
  }
  return table;
}
