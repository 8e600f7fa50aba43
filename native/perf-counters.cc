#include "perf-counters.h"

#include "online-cpus.h"
#include "perf-event.h"

#include <linux/perf_event.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// One group per CPU: the leader counts cache misses, the member instructions. PERF_FORMAT_GROUP
// reads both with the group's enabled/running times in one read().
struct GroupReadout {
  uint64_t nr;
  uint64_t time_enabled;
  uint64_t time_running;
  uint64_t values[2];
};

struct CpuGroup {
  int cpu;
  int leader_fd;   // cache-misses
  int member_fd;   // instructions
};

struct OpenFailure {
  std::string event;  // "cache-misses" or "instructions"
  int cpu = -1;
  int err = 0;        // positive errno, 0 when nothing failed
};


int OpenCounter(uint64_t config, int cpu, int group_fd) {
  struct perf_event_attr attr = PerfEventAttr(PERF_TYPE_HARDWARE, config);
  // Counting mode: no sample_period, nothing written to a ring buffer; read() gives the totals.
  attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.exclude_hv = 1;
  return OpenPerfEventOnCpu(&attr, cpu, group_fd);
}

// Opens the group on one CPU. Returns 0, or the positive errno with `failure` filled in.
int OpenGroup(int cpu, CpuGroup* group, OpenFailure* failure) {
  group->cpu = cpu;
  group->leader_fd = OpenCounter(PERF_COUNT_HW_CACHE_MISSES, cpu, -1);
  if (group->leader_fd < 0) {
    *failure = {"cache-misses", cpu, errno};
    return failure->err;
  }
  group->member_fd = OpenCounter(PERF_COUNT_HW_INSTRUCTIONS, cpu, group->leader_fd);
  if (group->member_fd < 0) {
    *failure = {"instructions", cpu, errno};
    close(group->leader_fd);
    group->leader_fd = -1;
    return failure->err;
  }
  return 0;
}

void CloseGroup(CpuGroup* group) {
  if (group->member_fd >= 0) close(group->member_fd);
  if (group->leader_fd >= 0) close(group->leader_fd);
  group->member_fd = group->leader_fd = -1;
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "errno " + std::to_string(err);
}

// A stable code and a sentence saying what to do, for a failed perf_event_open.
void Describe(const OpenFailure& failure, std::string* code, std::string* message, std::string* hint) {
  std::string call = "perf_event_open(" + failure.event + ", cpu " + std::to_string(failure.cpu) + ") failed with " +
                     ErrnoName(failure.err) + " (" + std::strerror(failure.err) + ")";
  switch (failure.err) {
    case ENOENT:
    case EOPNOTSUPP:
    case ENODEV:
      // The kernel has no PMU driver that knows the generic hardware events: a VM without a virtual
      // PMU, or a CPU the kernel's perf driver does not support.
      *code = "TAIL2_NO_PMU";
      *message = "no hardware PMU: " + call;
      *hint = "This machine exposes no hardware performance counters (typical of VMs); cache_miss_rate is "
              "unavailable. Enable the virtual PMU (KVM: -cpu host / <cpu mode='host-passthrough'>; cloud: a "
              "bare-metal or PMU-enabled instance type) to get it.";
      return;
    case EACCES:
    case EPERM:
      *code = "TAIL2_NO_PRIVILEGE";
      *message = "not allowed to count hardware events: " + call;
      *hint = "System-wide counters need CAP_PERFMON (or CAP_SYS_ADMIN): run as root, or lower "
              "kernel.perf_event_paranoid.";
      return;
    case EMFILE:
    case ENFILE:
      *code = "TAIL2_FD_LIMIT";
      *message = "out of file descriptors: " + call;
      *hint = "Raise the open-file limit (ulimit -n, LimitNOFILE=).";
      return;
    default:
      *code = "TAIL2_PERF_EVENT";
      *message = "the kernel refused the hardware counters: " + call;
      *hint = "Check that no other tool holds every PMU counter (e.g. the NMI watchdog, "
              "kernel.nmi_watchdog=0 frees one) and that the kernel's perf support is enabled.";
      return;
  }
}

Napi::Error MakePerfError(Napi::Env env, const OpenFailure& failure) {
  std::string code, message, hint;
  Describe(failure, &code, &message, &hint);
  Napi::Error error = Napi::Error::New(env, message + ". " + hint);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, failure.err));
  error.Set("hint", Napi::String::New(env, hint));
  return error;
}

class PerfCounters : public Napi::ObjectWrap<PerfCounters> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PerfCounters",
                       {InstanceMethod<&PerfCounters::Read>("read"), InstanceMethod<&PerfCounters::Close>("close"),
                        StaticMethod<&PerfCounters::Probe>("probe")});
  }

  // Opens a group on every online CPU; any failure closes what was opened (Teardown) and throws.
  explicit PerfCounters(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PerfCounters>(info) {
    Napi::Env env = info.Env();
    std::vector<int> cpus = ReadOnlineCpus();
    if (cpus.empty()) Fail(env, {"cache-misses", -1, EIO});
    for (int cpu : cpus) {
      CpuGroup group{cpu, -1, -1};
      OpenFailure failure;
      int err = OpenGroup(cpu, &group, &failure);
      if (err == ENODEV && !groups_.empty()) continue;  // went offline since we read the list
      if (err != 0) Fail(env, failure);
      groups_.push_back(group);
    }
  }

  ~PerfCounters() override { Teardown(); }

 private:
  [[noreturn]] void Fail(Napi::Env env, const OpenFailure& failure) {
    Teardown();
    throw MakePerfError(env, failure);
  }

  // The one cleanup path. Safe to call twice.
  void Teardown() {
    for (CpuGroup& group : groups_) CloseGroup(&group);
    groups_.clear();
  }

  static Napi::Value Probe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    std::vector<int> cpus = ReadOnlineCpus();
    OpenFailure failure;
    CpuGroup group{-1, -1, -1};
    if (cpus.empty()) {
      failure = {"cache-misses", -1, EIO};
    } else {
      OpenGroup(cpus.front(), &group, &failure);
      CloseGroup(&group);
    }
    if (failure.err == 0) {
      result.Set("available", Napi::Boolean::New(env, true));
      result.Set("cpus", Napi::Number::New(env, static_cast<double>(cpus.size())));
      return result;
    }
    std::string code, message, hint;
    Describe(failure, &code, &message, &hint);
    result.Set("available", Napi::Boolean::New(env, false));
    result.Set("reason", Napi::String::New(env, message + ". " + hint));
    result.Set("code", Napi::String::New(env, code));
    result.Set("errno", Napi::Number::New(env, failure.err));
    return result;
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (groups_.empty()) throw Napi::Error::New(env, "PerfCounters: read() after close()");
    Napi::Array per_cpu = Napi::Array::New(env, groups_.size());
    double misses_scaled = 0, instructions_scaled = 0, enabled_total = 0, running_total = 0;
    for (size_t i = 0; i < groups_.size(); i++) {
      GroupReadout readout;
      memset(&readout, 0, sizeof(readout));
      ssize_t n = read(groups_[i].leader_fd, &readout, sizeof(readout));
      if (n < static_cast<ssize_t>(3 * sizeof(uint64_t)) || readout.nr != 2) {
        int err = n < 0 ? errno : EIO;
        Napi::Error error = Napi::Error::New(env, "failed to read the hardware counters on CPU " + std::to_string(groups_[i].cpu) +
                                                      ": " + std::strerror(err));
        error.Set("code", Napi::String::New(env, "TAIL2_PERF_EVENT"));
        error.Set("errno", Napi::Number::New(env, err));
        throw error;
      }
      double misses = static_cast<double>(readout.values[0]);
      double instructions = static_cast<double>(readout.values[1]);
      double enabled = static_cast<double>(readout.time_enabled);
      double running = static_cast<double>(readout.time_running);
      // Multiplexed groups count only while scheduled on the PMU: scale up by enabled/running.
      double scale = running > 0 ? enabled / running : 0;
      misses_scaled += misses * scale;
      instructions_scaled += instructions * scale;
      enabled_total += enabled;
      running_total += running;
      Napi::Object cpu = Napi::Object::New(env);
      cpu.Set("cpu", Napi::Number::New(env, groups_[i].cpu));
      cpu.Set("cacheMisses", Napi::Number::New(env, misses));
      cpu.Set("instructions", Napi::Number::New(env, instructions));
      cpu.Set("timeEnabledNs", Napi::Number::New(env, enabled));
      cpu.Set("timeRunningNs", Napi::Number::New(env, running));
      per_cpu.Set(i, cpu);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("cacheMisses", Napi::Number::New(env, misses_scaled));
    result.Set("instructions", Napi::Number::New(env, instructions_scaled));
    result.Set("timeEnabledNs", Napi::Number::New(env, enabled_total));
    result.Set("timeRunningNs", Napi::Number::New(env, running_total));
    result.Set("cpus", per_cpu);
    return result;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  std::vector<CpuGroup> groups_;
};

}  // namespace

void InitPerfCounters(Napi::Env env, Napi::Object exports) { exports.Set("PerfCounters", PerfCounters::Define(env)); }
