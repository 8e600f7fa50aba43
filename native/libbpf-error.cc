#include "libbpf-error.h"

#include <bpf/libbpf.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace {

std::mutex log_mutex;
std::string* active_log = nullptr;  // guarded by log_mutex
constexpr size_t kMaxLog = 256 * 1024;  // verifier logs can be long; keep the tail, which names the failure

int CaptureLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n < 0) return 0;
  std::lock_guard<std::mutex> lock(log_mutex);
  if (active_log != nullptr) {
    active_log->append(line);
    if (active_log->size() > kMaxLog) active_log->erase(0, active_log->size() - kMaxLog);
  }
  return 0;
}

int SilentLibbpfPrint(enum libbpf_print_level, const char*, va_list) { return 0; }

bool LogLooksLikeVerifier(const std::string& log) {
  return log.find("processed ") != std::string::npos || log.find("-- BEGIN PROG LOAD LOG --") != std::string::npos ||
         log.find("verifier") != std::string::npos;
}

std::string MemlockHint() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return "";
  if (limit.rlim_cur >= 64ull * 1024 * 1024) return "";
  return " The locked-memory limit is " + std::to_string(limit.rlim_cur / 1024) +
         " KiB; kernels before 5.11 charge BPF maps to it: raise it (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in the systemd unit).";
}

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() {
  std::lock_guard<std::mutex> lock(log_mutex);
  active_log = new std::string();
  libbpf_set_print(CaptureLibbpfPrint);
}

LibbpfLogCapture::~LibbpfLogCapture() {
  std::lock_guard<std::mutex> lock(log_mutex);
  delete active_log;
  active_log = nullptr;
  libbpf_set_print(SilentLibbpfPrint);
}

std::string LibbpfLogCapture::Text() const {
  std::lock_guard<std::mutex> lock(log_mutex);
  return active_log != nullptr ? *active_log : std::string();
}

Napi::Error MakeBpfError(Napi::Env env, const std::string& step, int err, const std::string& log) {
  std::string code = "TAIL2_BPF";
  std::string hint;
  bool verifier = LogLooksLikeVerifier(log);
  if (verifier && (err == EINVAL || err == EACCES || err == E2BIG || err == ENOSPC)) {
    code = "TAIL2_VERIFIER";
    hint = "The kernel's BPF verifier rejected the program; its log is attached (error.verifierLog). "
           "Report it with your kernel version (uname -r).";
  } else if (err == EPERM || err == EACCES) {
    code = "TAIL2_NO_PRIVILEGE";
    hint = "tail2 needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run it as root, or grant them "
           "to tail2d alone (AmbientCapabilities=CAP_BPF CAP_PERFMON in its systemd unit)." + MemlockHint();
  } else if (err == ESRCH) {  // libbpf: no vmlinux BTF to relocate against
    code = "TAIL2_NO_BTF";
    hint = "The kernel lacks BTF type information (/sys/kernel/btf/vmlinux) or a feature tail2 needs; "
           "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.8 or newer).";
  } else if (err == EINVAL && step.find("perf event") != std::string::npos) {
    code = "TAIL2_PERF_EVENT";
    hint = "The kernel refused the sampling frequency; it must not exceed "
           "/proc/sys/kernel/perf_event_max_sample_rate.";
  } else if (err == EMFILE || err == ENFILE) {
    code = "TAIL2_FD_LIMIT";
    hint = "Too many open files: raise the open-file limit (ulimit -n, LimitNOFILE=).";
  } else if (err == ENOMEM) {
    code = "TAIL2_NO_MEMORY";
    hint = "The kernel could not allocate the BPF maps; lower the ring buffer size." + MemlockHint();
  }
  std::string message = "failed to " + step + ": " + std::strerror(err) + ". " + hint;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("hint", Napi::String::New(env, hint));
  if (verifier) error.Set("verifierLog", Napi::String::New(env, log));
  return error;
}
