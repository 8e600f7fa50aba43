// PerfCounters: hardware cache-miss and instruction counters on every online CPU, in counting mode
// (no sampling), one perf_event group per CPU so both counters cover the same time when the kernel
// multiplexes the PMU. Exposed to JS as class `PerfCounters`:
//
//   PerfCounters.probe() -> { available: true, cpus }
//                         | { available: false, reason, code, errno }
//       Opens and closes one group on the first online CPU: the check to run at start. A machine
//       without a hardware PMU (most VMs) answers { available: false, code: 'TAIL2_NO_PMU', ... }.
//   new PerfCounters()  opens a group on every online CPU; throws an Error with `code`
//       ('TAIL2_NO_PMU', 'TAIL2_NO_PRIVILEGE', 'TAIL2_FD_LIMIT', 'TAIL2_PERF_EVENT'), `errno`, `hint`.
//   read() -> { cacheMisses, instructions,           summed over CPUs, each scaled by
//               timeEnabledNs, timeRunningNs,          enabled/running (lifetime counts)
//               cpus: [{ cpu, cacheMisses, instructions, timeEnabledNs, timeRunningNs }] }  raw
//       Per-CPU values are the raw counts, so an interval can be scaled by its own
//       Δenabled/Δrunning (see daemon/metrics/cache-misses.ts).
//   close()  closes every event; read() after close() throws. Safe to call twice.
#pragma once
#include <napi.h>

void InitPerfCounters(Napi::Env env, Napi::Object exports);
