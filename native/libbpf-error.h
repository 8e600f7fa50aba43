// Turns libbpf and kernel failures into JS Errors a person can act on: a stable `code`, the
// `errno`, a `hint` saying what to do, and for verifier rejections the verifier's log.
#pragma once
#include <napi.h>

#include <string>

// Captures what libbpf prints (it reports verifier logs through its print callback) while alive.
// Only one capture is active at a time; libbpf's print hook is process-global.
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
  std::string Text() const;
};

// `step` names what failed ("load BPF programs", "open perf event on CPU 3"); `err` is a positive
// errno; `log` is libbpf's output during the step (may be empty).
Napi::Error MakeBpfError(Napi::Env env, const std::string& step, int err, const std::string& log);
