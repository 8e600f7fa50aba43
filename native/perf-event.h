// Opening perf events, for the sampler (software events the BPF programs attach to) and the
// hardware counters alike.
#pragma once

#include <linux/perf_event.h>

#include <cstdint>

// A zeroed perf_event_attr of `type` and `config` with its size set: callers add what their
// event needs (a sampling period, a read format).
struct perf_event_attr PerfEventAttr(uint32_t type, uint64_t config);

// perf_event_open for every task on `cpu`, close-on-exec, in `group_fd`'s group (-1 for none).
// Returns the fd, or -1 with errno set.
int OpenPerfEventOnCpu(struct perf_event_attr* attr, int cpu, int group_fd);
