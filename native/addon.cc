// Entry point of the tail2 native addon: registers the sampler (BPF load/attach/drain), hardware
// counters, and sd_notify for systemd. Symbols are read by tail2-reader (native/reader/), a process
// of its own, because the files they come from belong to the profiled processes.
#include <napi.h>

#include "perf-counters.h"
#include "sampler-addon.h"
#include "sd-notify.h"
#include "task-stats-addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitSampler(env, exports);
  InitPerfCounters(env, exports);
  InitSdNotify(env, exports);
  InitTaskStats(env, exports);
  return exports;
}

NODE_API_MODULE(tail2_native, Init)
