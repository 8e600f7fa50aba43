#include "perf-event.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

struct perf_event_attr PerfEventAttr(uint32_t type, uint64_t config) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config = config;
  return attr;
}

int OpenPerfEventOnCpu(struct perf_event_attr* attr, int cpu, int group_fd) {
  return static_cast<int>(syscall(__NR_perf_event_open, attr, -1, cpu, group_fd, PERF_FLAG_FD_CLOEXEC));
}
