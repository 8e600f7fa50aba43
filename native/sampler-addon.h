// Sampler: loads bpf/sampler.bpf.c, attaches it to a cpu-clock perf event on every online CPU and
// drains its ring buffer on a worker thread, handing batches of raw records to JS. Exposed to JS
// as class `Sampler`.
#pragma once
#include <napi.h>

void InitSampler(Napi::Env env, Napi::Object exports);
