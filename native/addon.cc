// Entry point of the tail2 native addon: registers the sampler (BPF load/attach/drain) and the
// symbolizer (ELF/DWARF through elfutils' libdwfl), hardware counters, and sd_notify for systemd.
#include <napi.h>

#include "perf-counters.h"
#include "sampler-addon.h"
#include "sd-notify.h"
#include "symbolizer.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitSampler(env, exports);
  InitSymbolizer(env, exports);
  InitPerfCounters(env, exports);
  InitSdNotify(env, exports);
  return exports;
}

NODE_API_MODULE(tail2_native, Init)
