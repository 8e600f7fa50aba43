#include "sampler-addon.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <linux/types.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "allocation-probes.h"
#include "libbpf-error.h"
#include "online-cpus.h"
#include "perf-event.h"
#include "probe-sets.h"
#include "sampler.skel.h"
#include "signals-held.h"
#include "unwind-maps.h"
// bpf/sampler.h (the record layout) needs the __u64 family from linux/types.h, included above.
#include "sampler.h"
#include "unwind.h"

namespace {

constexpr uint32_t kMinRingBytes = 256 * 1024;
constexpr int kLoadAttempts = 5;
// What JS has not taken yet, in batches and in bytes (`maxQueuedBytes`); past either, a batch is
// dropped and counted. A stalled event loop then costs at most this much memory, whatever the
// sampling rate.
constexpr size_t kMaxQueuedBatches = 64;
constexpr uint32_t kDefaultMaxQueuedBytes = 64u << 20;

// The allocation programs' names in attachProbes("malloc", …) offsets, in AllocationPrograms() order.
constexpr const char* kAllocationProgramNames[] = {"size_arg1", "size_arg2", "calloc", "realloc", "posix_memalign", "free"};

struct Batch {
  std::vector<uint8_t> bytes;
  uint64_t records = 0;
};


// A software perf event counting `config` on `cpu` that overflows every `period` (what the BPF
// programs attach to). Returns the fd, or -1 with errno set.
int OpenSoftwareEvent(uint64_t config, uint64_t period, int cpu) {
  struct perf_event_attr attr = PerfEventAttr(PERF_TYPE_SOFTWARE, config);
  attr.sample_period = period;
  return OpenPerfEventOnCpu(&attr, cpu, -1);
}

// Every event in `fds` to `period`, in place; on a failure the ones already changed go back to
// `old_period`, and the index that failed is returned with errno set. Returns -1 when all changed.
int SetPeriods(const std::vector<int>& fds, uint64_t period, uint64_t old_period) {
  for (size_t i = 0; i < fds.size(); i++) {
    uint64_t wanted = period;
    if (ioctl(fds[i], PERF_EVENT_IOC_PERIOD, &wanted) == 0) continue;
    const int err = errno;
    for (size_t j = 0; j < i; j++) {
      uint64_t restored = old_period;
      if (ioctl(fds[j], PERF_EVENT_IOC_PERIOD, &restored) != 0) {
        // Nothing more to do: the caller reports that the change failed.
      }
    }
    errno = err;
    return static_cast<int>(i);
  }
  return -1;
}

uint32_t RoundUpToPowerOfTwo(uint32_t value) {
  uint32_t result = kMinRingBytes;
  while (result < value && result < (1u << 30)) result <<= 1;
  return result;
}

class Sampler : public Napi::ObjectWrap<Sampler> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Sampler",
                       {InstanceMethod<&Sampler::Start>("start"), InstanceMethod<&Sampler::Stop>("stop"),
                        InstanceMethod<&Sampler::Stats>("stats"), InstanceMethod<&Sampler::Flush>("flush"),
                        InstanceMethod<&Sampler::SetFrequency>("setFrequency"),
                        InstanceMethod<&Sampler::SetPageFaultPeriod>("setPageFaultPeriod"),
                        InstanceMethod<&Sampler::WriteUnwindRows>("writeUnwindRows"),
                        InstanceMethod<&Sampler::SetUnwindProcess>("setUnwindProcess"),
                        InstanceMethod<&Sampler::DeleteUnwindProcess>("deleteUnwindProcess"),
                        InstanceMethod<&Sampler::AttachProbes>("attachProbes"),
                        InstanceMethod<&Sampler::DetachProbes>("detachProbes"),
                        InstanceMethod<&Sampler::ProbeCalls>("probeCalls"),
                        InstanceMethod<&Sampler::CopySizes>("copySizes")});
  }

  explicit Sampler(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sampler>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Sampler(options): options object required");
    Napi::Object options = info[0].As<Napi::Object>();
    if (!options.Get("onBatch").IsFunction()) throw Napi::TypeError::New(env, "Sampler: options.onBatch must be a function");
    on_batch_ = Napi::Persistent(options.Get("onBatch").As<Napi::Function>());
    if (options.Get("onError").IsFunction()) on_error_ = Napi::Persistent(options.Get("onError").As<Napi::Function>());
    frequency_ = ReadUint(options, "frequency", 99);
    target_pid_ = ReadUint(options, "targetPid", 0);
    ring_bytes_ = RoundUpToPowerOfTwo(ReadUint(options, "ringBufferBytes", 8u << 20));
    batch_interval_ms_ = ReadUint(options, "batchIntervalMs", 1000);
    max_queued_bytes_ = ReadUint(options, "maxQueuedBytes", kDefaultMaxQueuedBytes);
    unwind_tables_ = options.Get("unwindTables").ToBoolean().Value();
    // Undefined: the page-fault program is not even loaded (tail2 record, CPU only). A number: it is
    // loaded, and attached at once when the number (faults per sample) is above 0.
    page_faults_loaded_ = !options.Get("pageFaultPeriod").IsUndefined();
    page_fault_period_ = ReadUint(options, "pageFaultPeriod", 0);
    // Undefined: the allocation programs are not loaded. An object: they are (where the kernel has
    // session uprobes), and attachProbes("malloc", …) probes one process at a time. The same for
    // `copies` and the copy program.
    const Napi::Value allocations = options.Get("allocations");
    if (allocations.IsObject()) {
      allocations_wanted_ = true;
      alloc_mean_bytes_ = ReadUint(allocations.As<Napi::Object>(), "meanBytes", 512u << 10);
      alloc_max_tracked_ = ReadUint(allocations.As<Napi::Object>(), "maxTracked", 32768);
      if (alloc_mean_bytes_ == 0 || alloc_max_tracked_ == 0)
        throw Napi::RangeError::New(env, "Sampler: allocations.meanBytes and allocations.maxTracked must be at least 1");
    }
    const Napi::Value copies = options.Get("copies");
    if (copies.IsObject()) {
      copies_wanted_ = true;
      copy_mean_bytes_ = ReadUint(copies.As<Napi::Object>(), "meanBytes", 512u << 10);
      if (copy_mean_bytes_ == 0) throw Napi::RangeError::New(env, "Sampler: copies.meanBytes must be at least 1");
    }
    unwind_rows_ = ReadUint(options, "unwindRows", 1u << 20);
    unwind_mappings_ = ReadUint(options, "unwindMappings", 1u << 16);
    unwind_processes_ = ReadUint(options, "unwindProcesses", 1u << 14);
    if (unwind_tables_ && (unwind_rows_ == 0 || unwind_mappings_ == 0 || unwind_processes_ == 0))
      throw Napi::RangeError::New(env, "Sampler: unwindRows, unwindMappings and unwindProcesses must be at least 1");
    if (batch_interval_ms_ == 0 || batch_interval_ms_ > 60000) throw Napi::RangeError::New(env, "Sampler: batchIntervalMs must be 1..60000");
    if (frequency_ == 0) throw Napi::RangeError::New(env, "Sampler: frequency must be at least 1 Hz");
  }

  ~Sampler() override { Teardown(); }

 private:
  static uint32_t ReadUint(Napi::Object options, const char* name, uint32_t fallback) {
    Napi::Value value = options.Get(name);
    if (value.IsUndefined()) return fallback;
    if (!value.IsNumber() || value.As<Napi::Number>().DoubleValue() < 0)
      throw Napi::TypeError::New(options.Env(), std::string("Sampler: options.") + name + " must be a non-negative number");
    return value.As<Napi::Number>().Uint32Value();
  }

  // open -> set load-time settings -> load -> attach on each online CPU -> ring buffer -> drain thread.
  // Any failure unwinds through Teardown(), the one cleanup path.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (skel_ != nullptr || started_once_) throw Napi::Error::New(env, "Sampler: a Sampler starts once; create a new one");
    started_once_ = true;
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
      Napi::Error error = MakeBpfError(env, "find kernel BTF at /sys/kernel/btf/vmlinux", ESRCH, "");
      throw error;
    }
    LibbpfLogCapture log;
    // The verifier gives up with EAGAIN when a signal is pending: signals wait until the load is
    // done (signals-held.h). A loaded object cannot be loaded again, so each attempt that still
    // fails starts from a fresh open.
    SignalsHeld held;
    for (int attempt = 1;; attempt++) {
      skel_ = sampler_bpf__open();
      if (skel_ == nullptr) Fail(env, "open the BPF object", errno, log.Text());
      skel_->rodata->target_tgid = target_pid_;       // fixed at load time
      skel_->rodata->wakeup_bytes = ring_bytes_ / 4;  // fixed at load time: see Drain()
      skel_->rodata->unwind_tables = unwind_tables_ ? 1 : 0;
      const long page_size = sysconf(_SC_PAGESIZE);
      skel_->rodata->page_bytes = page_size > 0 ? static_cast<uint64_t>(page_size) : 4096;
      // Each program costs its own verification at load: a CPU-only sampler skips this one.
      int err = bpf_program__set_autoload(skel_->progs.sample_page_fault, page_faults_loaded_);
      if (err) Fail(env, "choose the BPF programs to load", -err, log.Text());
      err = PrepareProbePrograms();
      if (err) Fail(env, "prepare the probe programs (allocations, copies)", -err, log.Text());
      err = bpf_map__set_max_entries(skel_->maps.samples, ring_bytes_);
      if (err) Fail(env, "size the ring buffer", -err, log.Text());
      // Without tables the maps stay at one entry each: they cost nothing.
      if (unwind_tables_) {
        if ((err = bpf_map__set_max_entries(skel_->maps.unwind_rows, unwind_rows_)) != 0 ||
            (err = bpf_map__set_max_entries(skel_->maps.unwind_mappings, unwind_mappings_)) != 0 ||
            (err = bpf_map__set_max_entries(skel_->maps.unwind_processes, unwind_processes_)) != 0) {
          Fail(env, "size the unwind-table maps", -err, log.Text());
        }
      }
      err = sampler_bpf__load(skel_);
      if (err == 0) break;
      if (err != -EAGAIN || attempt == kLoadAttempts) Fail(env, "load the BPF programs", -err, log.Text());
      sampler_bpf__destroy(skel_);
      skel_ = nullptr;
    }

    if (unwind_tables_) {
      std::string what;
      int err = unwind_maps_.Attach(skel_->maps.unwind_rows, skel_->maps.unwind_mappings, skel_->maps.unwind_processes, &what);
      if (err != 0) Fail(env, what, err, "");
    }

    std::vector<int> cpus = ReadOnlineCpus();
    if (cpus.empty()) Fail(env, "read /sys/devices/system/cpu/online", EIO, "");
    for (int cpu : cpus) {
      // cpu-clock counts nanoseconds, so a fixed period gives the frequency exactly. Frequency mode
      // (attr.freq) lets the kernel re-tune the period and undersamples idle, tickless CPUs.
      int fd = OpenSoftwareEvent(PERF_COUNT_SW_CPU_CLOCK, 1000000000ull / frequency_, cpu);
      if (fd < 0) {
        if (errno == ENODEV) continue;  // went offline since we read the list
        Fail(env, "open the cpu-clock perf event on CPU " + std::to_string(cpu), errno, "");
      }
      struct bpf_link* link = bpf_program__attach_perf_event(skel_->progs.sample_stack, fd);
      if (link == nullptr) {
        const int err = errno;
        close(fd);
        Fail(env, "attach the sampler to the perf event on CPU " + std::to_string(cpu), err, log.Text());
      }
      // The link owns the fd now (bpf_link__destroy closes it); kept for the period's ioctl.
      links_.push_back(link);
      perf_fds_.push_back(fd);
    }
    attached_cpus_ = links_.size();
    if (page_fault_period_ > 0) {
      std::string what;
      int err = AttachPageFaults(page_fault_period_, &what);
      if (err != 0) Fail(env, what, err, log.Text());
    }
    struct bpf_link* exec_link = bpf_program__attach(skel_->progs.process_exec);
    if (exec_link == nullptr) Fail(env, "attach the exec tracepoint (tp_btf/sched_process_exec)", errno, log.Text());
    links_.push_back(exec_link);
    if (unwind_tables_) {
      struct bpf_link* exit_link = bpf_program__attach(skel_->progs.process_exit);
      if (exit_link == nullptr) Fail(env, "attach the exit tracepoint (tp_btf/sched_process_exit)", errno, log.Text());
      links_.push_back(exit_link);
    }
    ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.samples), &Sampler::OnRecord, this, nullptr);
    if (ring_ == nullptr) Fail(env, "create the ring buffer reader", errno, log.Text());

    int wait_err = CreateWaitSet();
    if (wait_err != 0) Fail(env, "set up the drain thread's wait set", wait_err, "");
    tsfn_ = Napi::ThreadSafeFunction::New(env, on_batch_.Value(), "tail2-sampler-drain", kMaxQueuedBatches, 1);
    tsfn_live_ = true;
    running_ = true;
    thread_ = std::thread([this] { Drain(); });
    return Napi::Number::New(env, static_cast<double>(attached_cpus_));
  }

  [[noreturn]] void Fail(Napi::Env env, const std::string& step, int err, const std::string& log) {
    Teardown();
    throw MakeBpfError(env, step, err == 0 ? EINVAL : err, log);
  }

  // Wakes the drain thread so what the ring holds reaches JS now, not at the next batch interval
  // (a capture that ends at t+after wants its last second at once).
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    Wake();
    return info.Env().Undefined();
  }

  void Wake() {
    if (wake_fd_ < 0) return;
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof(one)) != sizeof(one)) {
      // The eventfd counter is saturated only if nobody drains it: the thread is awake anyway.
    }
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  // Counters summed over CPUs. `samples` counts perf ticks seen by the BPF program; `lost` the
  // records the full ring buffer refused; `droppedInUserspace` the records in batches JS did not
  // take in time.
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object stats = Napi::Object::New(env);
    if (skel_ != nullptr) {
      ReadCounters();
      ReadProgramRunTime();
    }
    const uint64_t* totals = counters_;
    stats.Set("samples", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_SAMPLES])));
    stats.Set("lost", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_LOST])));
    stats.Set("filtered", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_FILTERED])));
    stats.Set("tableWalks", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_TABLE_WALKS])));
    stats.Set("walksTruncated", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_TRUNCATED])));
    stats.Set("walksFramePointer", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_FRAME_POINTER])));
    stats.Set("walksUnknownMapping", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_UNKNOWN_MAPPING])));
    stats.Set("walksStopped", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_STOPPED])));
    stats.Set("walksWithoutTables", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_NO_TABLES])));
    stats.Set("exits", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_EXITS])));
    stats.Set("pageFaultSamples", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_PAGE_FAULTS])));
    stats.Set("pageFaultPeriod", Napi::Number::New(env, page_fault_period_));
    stats.Set("allocationSamples", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_ALLOC_SAMPLES])));
    stats.Set("allocationsUntracked", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_ALLOC_UNTRACKED])));
    stats.Set("allocationFrees", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_FREES])));
    stats.Set("allocationProbeRunTimeNs", Napi::Number::New(env, static_cast<double>(alloc_run_time_ns_)));
    stats.Set("allocationProbeRuns", Napi::Number::New(env, static_cast<double>(alloc_runs_)));
    Napi::Object programs = Napi::Object::New(env);
    if (skel_ != nullptr || alloc_runs_ > 0) {
      size_t index = 0;
      for (const char* name : kAllocationProgramNames) {
        Napi::Object one = Napi::Object::New(env);
        one.Set("runTimeNs", Napi::Number::New(env, static_cast<double>(alloc_program_stats_[index].first)));
        one.Set("runs", Napi::Number::New(env, static_cast<double>(alloc_program_stats_[index].second)));
        programs.Set(name, one);
        index++;
      }
    }
    stats.Set("allocationProbePrograms", programs);
    stats.Set("allocationProbedProcesses", Napi::Number::New(env, static_cast<double>(probe_sets_.Count("malloc"))));
    stats.Set("allocationTrackedCapacity", Napi::Number::New(env, allocations_unavailable_.empty() ? alloc_max_tracked_ : 0));
    if (!allocations_unavailable_.empty()) stats.Set("allocationsUnavailable", Napi::String::New(env, allocations_unavailable_));
    stats.Set("copySamples", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_COPY_SAMPLES])));
    stats.Set("copyProbeRunTimeNs", Napi::Number::New(env, static_cast<double>(copy_run_stats_.first)));
    stats.Set("copyProbeRuns", Napi::Number::New(env, static_cast<double>(copy_run_stats_.second)));
    stats.Set("copyProbedProcesses", Napi::Number::New(env, static_cast<double>(probe_sets_.Count("memcpy"))));
    if (!copies_unavailable_.empty()) stats.Set("copiesUnavailable", Napi::String::New(env, copies_unavailable_));
    stats.Set("unwindRowCapacity", Napi::Number::New(env, unwind_maps_.row_capacity()));
    stats.Set("unwindMappingCapacity", Napi::Number::New(env, unwind_maps_.mapping_capacity()));
    stats.Set("unwindProcessCapacity", Napi::Number::New(env, unwind_maps_.process_capacity()));
    stats.Set("unwindMapBytes", Napi::Number::New(env, static_cast<double>(unwind_maps_.MemoryBytes())));
    stats.Set("execs", Napi::Number::New(env, static_cast<double>(totals[TAIL2_COUNTER_EXECS])));
    stats.Set("droppedInUserspace", Napi::Number::New(env, static_cast<double>(dropped_records_.load())));
    stats.Set("delivered", Napi::Number::New(env, static_cast<double>(delivered_records_.load())));
    stats.Set("deliveredBatches", Napi::Number::New(env, static_cast<double>(delivered_batches_.load())));
    stats.Set("cpus", Napi::Number::New(env, static_cast<double>(attached_cpus_)));
    stats.Set("ringBufferBytes", Napi::Number::New(env, ring_bytes_));
    stats.Set("bpfRunTimeNs", Napi::Number::New(env, static_cast<double>(bpf_run_time_ns_)));
    return stats;
  }

  // Sums the per-CPU BPF counters into counters_ (kept after teardown, so stats after stop are final).
  void ReadCounters() {
    int ncpus = libbpf_num_possible_cpus();
    if (ncpus <= 0) return;
    std::vector<uint64_t> values(ncpus);
    for (uint32_t key = 0; key < TAIL2_COUNTER_MAX; key++) {
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, values.data()) != 0) continue;
      uint64_t total = 0;
      for (uint64_t v : values) total += v;
      counters_[key] = total;
    }
  }

  // Time the kernel spent in the perf-event programs (CPU and page-fault samples), from their fds'
  // fdinfo. The kernel counts it only while kernel.bpf_stats_enabled is 1; otherwise it stays 0.
  void ReadProgramRunTime() {
    bpf_run_time_ns_ = 0;
    for (struct bpf_program* program : {skel_->progs.sample_stack, skel_->progs.sample_page_fault})
      bpf_run_time_ns_ += ProgramRunStats(program).first;
    alloc_run_time_ns_ = 0;
    alloc_runs_ = 0;
    size_t index = 0;
    for (const auto& [name, program] : AllocationPrograms()) {
      const auto [time, runs] = ProgramRunStats(program);
      alloc_run_time_ns_ += time;
      alloc_runs_ += runs;
      alloc_program_stats_[index++] = {time, runs};
    }
    copy_run_stats_ = ProgramRunStats(skel_->progs.copy_size_arg3);
    bpf_run_time_ns_ += alloc_run_time_ns_ + copy_run_stats_.first;
  }

  // A program's run time (ns) and runs, from its fd's fdinfo; zeros when it is not loaded.
  static std::pair<uint64_t, uint64_t> ProgramRunStats(struct bpf_program* program) {
    const int fd = bpf_program__fd(program);
    if (fd < 0) return {0, 0};
    std::ifstream fdinfo("/proc/self/fdinfo/" + std::to_string(fd));
    std::string key;
    uint64_t value = 0;
    uint64_t time = 0;
    uint64_t runs = 0;
    while (fdinfo >> key) {
      if (key == "run_time_ns:" && fdinfo >> value) time = value;
      else if (key == "run_cnt:" && fdinfo >> value) runs = value;
    }
    return {time, runs};
  }

  // setFrequency(hz): a new sampling period on every CPU's perf event, in place (ioctl
  // PERF_EVENT_IOC_PERIOD): the programs, maps and unwind tables stay as they are.
  Napi::Value SetFrequency(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setFrequency(hz: number)");
    const uint32_t hz = info[0].As<Napi::Number>().Uint32Value();
    if (hz == 0 || hz > 1000000) throw Napi::RangeError::New(env, "setFrequency: hz must be 1..1000000");
    // Every CPU at one period: on a failure the ones already changed go back to the old one.
    const int failed = SetPeriods(perf_fds_, 1000000000ull / hz, 1000000000ull / frequency_);
    const int err = errno;
    if (failed >= 0)
      throw MakeBpfError(env, "change the sampling period of the perf event on CPU " + std::to_string(failed) + " of " + std::to_string(perf_fds_.size()), err, "");
    frequency_ = hz;
    return env.Undefined();
  }

  // setPageFaultPeriod(faults): one page-fault sample per `faults` faults on every CPU from now on;
  // 0 detaches. Attaching opens a page-faults software event per online CPU with the program
  // loaded at start; a running event gets the new period in place.
  Napi::Value SetPageFaultPeriod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setPageFaultPeriod(faults: number)");
    const double requested = info[0].As<Napi::Number>().DoubleValue();
    if (!(requested >= 0 && requested <= 1e9) || requested != static_cast<double>(static_cast<uint32_t>(requested)))
      throw Napi::RangeError::New(env, "setPageFaultPeriod: faults must be a whole number 0..1000000000");
    const uint32_t period = static_cast<uint32_t>(requested);
    if (skel_ == nullptr) throw Napi::Error::New(env, "setPageFaultPeriod: the sampler is not running");
    if (!page_faults_loaded_)
      throw Napi::Error::New(env, "setPageFaultPeriod: this sampler was started without the page-fault program (options.pageFaultPeriod)");
    if (period == 0) {
      DetachPageFaults();
      return env.Undefined();
    }
    if (page_fault_fds_.empty()) {
      std::string what;
      int err = AttachPageFaults(period, &what);
      if (err != 0) {
        DetachPageFaults();
        throw MakeBpfError(env, what, err, "");
      }
      return env.Undefined();
    }
    const int failed = SetPeriods(page_fault_fds_, period, page_fault_period_);
    const int err = errno;
    if (failed >= 0) throw MakeBpfError(env, "change the period of the page-faults perf event on CPU " + std::to_string(failed), err, "");
    page_fault_period_ = period;
    return env.Undefined();
  }

  // A page-faults software event with `period` on every online CPU, each running sample_page_fault.
  // Returns 0, or an errno with `what` saying which step failed; the caller detaches what was made.
  int AttachPageFaults(uint32_t period, std::string* what) {
    std::vector<int> cpus = ReadOnlineCpus();
    if (cpus.empty()) {
      *what = "read /sys/devices/system/cpu/online";
      return EIO;
    }
    for (int cpu : cpus) {
      int fd = OpenSoftwareEvent(PERF_COUNT_SW_PAGE_FAULTS, period, cpu);
      if (fd < 0) {
        const int err = errno;
        if (err == ENODEV) continue;  // went offline since we read the list
        *what = "open the page-faults perf event on CPU " + std::to_string(cpu);
        return err;
      }
      struct bpf_link* link = bpf_program__attach_perf_event(skel_->progs.sample_page_fault, fd);
      if (link == nullptr) {
        const int err = errno;
        close(fd);
        *what = "attach the page-fault sampler to the perf event on CPU " + std::to_string(cpu);
        return err;
      }
      // The link owns the fd now (bpf_link__destroy closes it); kept for the period's ioctl.
      page_fault_links_.push_back(link);
      page_fault_fds_.push_back(fd);
    }
    page_fault_period_ = period;
    return 0;
  }

  // Destroying a perf-event link closes its perf event's fd: the fds are only forgotten here.
  void DetachPageFaults() {
    for (struct bpf_link* link : page_fault_links_) bpf_link__destroy(link);
    page_fault_links_.clear();
    page_fault_fds_.clear();
    page_fault_period_ = 0;
  }

  // writeUnwindRows(first, rows: Uint8Array of struct tail2_unwind_row): into the mmap'd array.
  Napi::Value WriteUnwindRows(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsTypedArray())
      throw Napi::TypeError::New(env, "writeUnwindRows(first: number, rows: Uint8Array)");
    Napi::Uint8Array rows = info[1].As<Napi::Uint8Array>();
    if (rows.ByteLength() % sizeof(struct tail2_unwind_row) != 0)
      throw Napi::RangeError::New(env, "writeUnwindRows: rows must be whole 8-byte rows (bpf/unwind.h)");
    const uint32_t first = info[0].As<Napi::Number>().Uint32Value();
    const size_t count = rows.ByteLength() / sizeof(struct tail2_unwind_row);
    const int err = unwind_maps_.WriteRows(first, rows.Data(), count);
    if (err == EINVAL || err == ENODEV)
      throw Napi::RangeError::New(env, "writeUnwindRows: rows " + std::to_string(first) + "+" + std::to_string(count) +
                                           " do not fit the unwind_rows map (capacity " + std::to_string(unwind_maps_.row_capacity()) +
                                           "), or unwinding with tables is off");
    if (err != 0) throw MakeBpfError(env, "write unwind rows into the unwind_rows map (mmap)", err, "");
    return env.Undefined();
  }

  // setUnwindProcess(tgid, startTimeNs: bigint, first, mappings: BigUint64Array of 5 words each).
  Napi::Value SetUnwindProcess(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsBigInt() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
        info[3].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
      throw Napi::TypeError::New(env, "setUnwindProcess(tgid: number, startTimeNs: bigint, first: number, mappings: BigUint64Array)");
    bool lossless = false;
    const uint64_t start = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
    Napi::BigUint64Array words = info[3].As<Napi::BigUint64Array>();
    if (!lossless || words.ElementLength() % 5 != 0) throw Napi::RangeError::New(env, "setUnwindProcess: bad start time or mappings (5 words each)");
    const int err = unwind_maps_.SetProcess(info[0].As<Napi::Number>().Uint32Value(), start, info[2].As<Napi::Number>().Uint32Value(),
                                            words.Data(), words.ElementLength() / 5);
    if (err == EINVAL || err == ENODEV)
      throw Napi::RangeError::New(env, "setUnwindProcess: mappings outside the unwind maps, unsorted or overlapping, or unwinding with tables is off");
    if (err != 0) throw MakeBpfError(env, "add a process to the unwind_processes map", err, "");
    return env.Undefined();
  }

  Napi::Value DeleteUnwindProcess(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "deleteUnwindProcess(tgid: number)");
    const int err = unwind_maps_.DeleteProcess(info[0].As<Napi::Number>().Uint32Value());
    if (err != 0) throw MakeBpfError(env, "remove a process from the unwind_processes map", err, "");
    return env.Undefined();
  }

  // The allocation programs, in kAllocationProgramNames order.
  std::vector<std::pair<const char*, struct bpf_program*>> AllocationPrograms() const {
    return {{kAllocationProgramNames[0], skel_->progs.alloc_size_arg1}, {kAllocationProgramNames[1], skel_->progs.alloc_size_arg2},
            {kAllocationProgramNames[2], skel_->progs.alloc_calloc},    {kAllocationProgramNames[3], skel_->progs.alloc_realloc},
            {kAllocationProgramNames[4], skel_->progs.alloc_posix_memalign}, {kAllocationProgramNames[5], skel_->progs.alloc_free}};
  }

  // The programs of a profile's probe sets ("malloc", "memcpy"), with what the offsets call them;
  // empty for a profile this sampler did not load.
  std::vector<ProbeSets::Program> ProgramsOf(const std::string& profile) const {
    std::vector<ProbeSets::Program> programs;
    if (profile == "malloc" && allocations_unavailable_.empty()) {
      for (const auto& [name, program] : AllocationPrograms()) programs.push_back({name, bpf_program__fd(program)});
    } else if (profile == "memcpy" && copies_unavailable_.empty()) {
      programs.push_back({"size_arg3", bpf_program__fd(skel_->progs.copy_size_arg3)});
    }
    return programs;
  }

  // Before load: the probe programs load only when asked for and the kernel has session uprobes
  // (otherwise allocations_unavailable_ and copies_unavailable_ say why); then as session uprobes,
  // with their sampling settings and table size. A negative errno on failure.
  int PrepareProbePrograms() {
    std::string no_sessions;
    const int attach_type = allocations_wanted_ || copies_wanted_ ? UprobeSessionAttachType(&no_sessions) : -1;
    allocations_unavailable_ = !allocations_wanted_ ? "the allocation profile is off" : no_sessions;
    copies_unavailable_ = !copies_wanted_ ? "the copy profile is off" : no_sessions;
    const bool load_allocations = allocations_wanted_ && attach_type >= 0;
    const bool load_copies = copies_wanted_ && attach_type >= 0;
    std::vector<std::pair<struct bpf_program*, bool>> programs = {{skel_->progs.copy_size_arg3, load_copies}};
    for (const auto& [name, program] : AllocationPrograms()) programs.push_back({program, load_allocations});
    for (const auto& [program, load] : programs) {
      int err = bpf_program__set_autoload(program, load);
      if (err == 0 && load) err = bpf_program__set_expected_attach_type(program, static_cast<enum bpf_attach_type>(attach_type));
      if (err) return err;
    }
    if (attach_type < 0) return 0;
    session_attach_type_ = static_cast<uint32_t>(attach_type);
    const std::vector<uint32_t> gaps = ExponentialGapTable(TAIL2_ALLOC_EXP_STEPS, TAIL2_ALLOC_EXP_SHIFT);
    memcpy(skel_->rodata->alloc_exp_table, gaps.data(), gaps.size() * sizeof(uint32_t));
    skel_->rodata->alloc_mean_bytes = alloc_mean_bytes_;
    skel_->rodata->copy_mean_bytes = copy_mean_bytes_;
    if (load_copies) copies_unavailable_.clear();
    if (!load_allocations) return 0;
    allocations_unavailable_.clear();
    return bpf_map__set_max_entries(skel_->maps.alloc_live, alloc_max_tracked_);
  }

  // attachProbes(profile, pid, path, file, offsets, flags): the session uprobes of `profile`
  // ("malloc": bpf/allocations.h; "memcpy": bpf/copies.h) for thread group `pid`, in the file at
  // `path` (a /proc/PID/map_files/ link: the very file the process maps), which must still be
  // `file` ({devMajor, devMinor, inode}); `offsets` maps each program to the file offsets of the
  // functions it probes; `flags` are the profile's cookie bits (TAIL2_ALLOC_COOKIE_GLIBC).
  // Replaces the pid's set of that profile, if any. The links made.
  Napi::Value AttachProbes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsString() || !info[3].IsObject() || !info[4].IsObject() || !info[5].IsNumber())
      throw Napi::TypeError::New(env, "attachProbes(profile: string, pid: number, path: string, file: {devMajor, devMinor, inode}, offsets: {[program]: number[]}, flags: number)");
    if (skel_ == nullptr) throw Napi::Error::New(env, "attachProbes: the sampler is not running");
    const std::string profile = info[0].As<Napi::String>();
    const uint32_t pid = info[1].As<Napi::Number>().Uint32Value();
    const std::string path = info[2].As<Napi::String>();
    const Napi::Object file = info[3].As<Napi::Object>();
    const Napi::Object offsets = info[4].As<Napi::Object>();
    const uint64_t flags = static_cast<uint64_t>(info[5].As<Napi::Number>().Int64Value()) & ((1u << TAIL2_PROBE_COOKIE_SLOT_SHIFT) - 1);
    if (profile != "malloc" && profile != "memcpy") throw Napi::TypeError::New(env, "attachProbes: profile must be malloc or memcpy");
    const std::vector<ProbeSets::Program> programs = ProgramsOf(profile);
    if (programs.empty()) throw AttachError(env, "ENOTSUP", profile == "malloc" ? allocations_unavailable_ : copies_unavailable_);
    std::map<std::string, std::vector<uint64_t>> at;
    for (const ProbeSets::Program& program : programs) {
      const Napi::Value list = offsets.Get(program.name);
      if (!list.IsArray()) continue;
      const Napi::Array array = list.As<Napi::Array>();
      for (uint32_t i = 0; i < array.Length(); i++) at[program.name].push_back(static_cast<uint64_t>(array.Get(i).ToNumber().Int64Value()));
    }
    const ProbeFile probed{file.Get("devMajor").ToNumber().Uint32Value(), file.Get("devMinor").ToNumber().Uint32Value(),
                           static_cast<uint64_t>(file.Get("inode").ToNumber().Int64Value())};
    const ProbeSets::Key key{profile, pid};
    // The slot's counters start at 0: the call counts (malloc), the size histogram (memcpy).
    const auto reset = [this, &profile](uint32_t slot) {
      return profile == "malloc" ? ZeroPerCpuEntries(bpf_map__fd(skel_->maps.probe_calls), slot, 1)
                                 : ZeroPerCpuEntries(bpf_map__fd(skel_->maps.copy_sizes), slot * TAIL2_COPY_SIZE_BUCKETS, TAIL2_COPY_SIZE_BUCKETS);
    };
    ForgetIfAllocations(key);
    ProbeAttachError error;
    const int links = probe_sets_.Attach(key, path, probed, programs, at, flags, session_attach_type_, reset, &error);
    if (links < 0) {
      // Links that worked for a moment may have sampled allocations already.
      ForgetIfAllocations(key);
      throw AttachError(env, error.code.c_str(), error.message);
    }
    return Napi::Number::New(env, links);
  }

  // The kernel's table of sampled allocations forgets a malloc set's process (after its probes
  // went, or before new ones come); the entries deleted, or -errno.
  long ForgetIfAllocations(const ProbeSets::Key& key) {
    if (key.first != "malloc" || skel_ == nullptr || !allocations_unavailable_.empty()) return 0;
    return ForgetProcessAllocations(bpf_map__fd(skel_->maps.alloc_live), key.second);
  }

  // An Error with `code` whose message says what went wrong; the caller says "cannot probe … in PID N".
  static Napi::Error AttachError(Napi::Env env, const char* code, const std::string& message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
  }

  // detachProbes(profile, pid): removes the pid's set of that profile and, for malloc, forgets its
  // sampled allocations in the kernel's table. The number of table entries deleted.
  Napi::Value DetachProbes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "detachProbes(profile: string, pid: number)");
    const ProbeSets::Key key{info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value()};
    probe_sets_.Detach(key);
    const long deleted = ForgetIfAllocations(key);
    if (deleted < 0) throw MakeBpfError(env, "forget pid " + std::to_string(key.second) + "'s sampled allocations", static_cast<int>(-deleted), "");
    return Napi::Number::New(env, static_cast<double>(deleted));
  }

  // probeCalls(profile, pid): calls into the functions of the pid's set since it was attached (0
  // when it has none): the allocator's entries, or the copies of every size.
  Napi::Value ProbeCalls(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "probeCalls(profile: string, pid: number)");
    const ProbeSets::Key key{info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value()};
    const int slot = probe_sets_.Slot(key);
    if (skel_ == nullptr || slot < 0) return Napi::Number::New(env, 0);
    std::vector<uint64_t> sums;
    const bool copies = key.first == "memcpy";
    const int err = copies ? SumPerCpuEntries(bpf_map__fd(skel_->maps.copy_sizes), static_cast<uint32_t>(slot) * TAIL2_COPY_SIZE_BUCKETS, TAIL2_COPY_SIZE_BUCKETS, &sums)
                           : SumPerCpuEntries(bpf_map__fd(skel_->maps.probe_calls), static_cast<uint32_t>(slot), 1, &sums);
    if (err != 0) throw MakeBpfError(env, "read the probes' call counts", err, "");
    uint64_t total = 0;
    for (uint64_t v : sums) total += v;
    return Napi::Number::New(env, static_cast<double>(total));
  }

  // copySizes(pid): the pid's copies by size since its copy probes were attached, one count per
  // bucket (TAIL2_COPY_SIZE_BUCKETS: 0 bytes, then [2^(b-1), 2^b)); empty when it has none.
  Napi::Value CopySizes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "copySizes(pid: number)");
    const int slot = probe_sets_.Slot({"memcpy", info[0].As<Napi::Number>().Uint32Value()});
    Napi::Array buckets = Napi::Array::New(env);
    if (skel_ == nullptr || slot < 0) return buckets;
    std::vector<uint64_t> sums;
    const int err = SumPerCpuEntries(bpf_map__fd(skel_->maps.copy_sizes), static_cast<uint32_t>(slot) * TAIL2_COPY_SIZE_BUCKETS, TAIL2_COPY_SIZE_BUCKETS, &sums);
    if (err != 0) throw MakeBpfError(env, "read the copy sizes", err, "");
    for (uint32_t i = 0; i < sums.size(); i++) buckets.Set(i, Napi::Number::New(env, static_cast<double>(sums[i])));
    return buckets;
  }

  static int OnRecord(void* context, void* data, size_t size) {
    auto* self = static_cast<Sampler*>(context);
    const auto* bytes = static_cast<const uint8_t*>(data);
    self->batch_.bytes.insert(self->batch_.bytes.end(), bytes, bytes + size);
    self->batch_.records++;
    return 0;
  }

  // Runs on the drain thread: the only place that touches ring_ and batch_ while running_.
  // The thread sleeps in epoll on the ring buffer and the stop eventfd. The BPF side wakes it only
  // when the ring is a quarter full, so on a normal host it wakes once per batch interval and
  // drains everything that arrived: one wakeup per batch instead of one per sample is most of
  // the sampler's cost on a busy host. flush() and stop() wake it at once through the eventfd.
  void Drain() {
    while (running_.load()) {
      struct epoll_event event;
      int ready = epoll_wait(wait_fd_, &event, 1, static_cast<int>(batch_interval_ms_));
      if (ready < 0 && errno != EINTR) {
        ReportDrainError(errno);
        break;
      }
      uint64_t wakes = 0;
      // EAGAIN: nobody asked; the ring buffer or the timer woke us.
      const bool asked = read(wake_fd_, &wakes, sizeof(wakes)) == sizeof(wakes) && wakes > 0;
      int n = ring_buffer__consume(ring_);
      if (n < 0 && n != -EINTR) {
        ReportDrainError(-n);
        break;
      }
      // Asked (flush()): a batch even when the ring held nothing, so the caller hears that
      // everything up to now is in, rather than waiting out its timeout for a batch that never comes.
      if (!batch_.bytes.empty() || asked) Flush();
    }
    if (ring_buffer__consume(ring_) < 0) {
      // Nothing useful to do on shutdown: the records already in the ring are lost with it.
    }
    if (!batch_.bytes.empty()) Flush();
  }

  // An epoll set holding the ring buffer's own epoll fd (readable when the BPF side wakes it) and
  // an eventfd that stop() writes to. Returns 0 or a positive errno.
  int CreateWaitSet() {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return errno;
    wait_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (wait_fd_ < 0) return errno;
    for (int fd : {ring_buffer__epoll_fd(ring_), wake_fd_}) {
      struct epoll_event event;
      memset(&event, 0, sizeof(event));
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (epoll_ctl(wait_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return errno;
    }
    return 0;
  }

  void Flush() {
    auto* batch = new Batch(std::move(batch_));
    batch_ = Batch();
    batch_.bytes.reserve(batch->bytes.capacity());
    uint64_t records = batch->records;
    const size_t bytes = batch->bytes.size();
    // One batch may always wait, however large: an empty queue never drops.
    const size_t queued = queued_bytes_.load();
    if (queued > 0 && queued + bytes > max_queued_bytes_) {
      dropped_records_ += records;
      delete batch;
      return;
    }
    queued_bytes_ += bytes;
    napi_status status = tsfn_.NonBlockingCall(batch, [this](Napi::Env env, Napi::Function callback, Batch* data) {
      queued_bytes_ -= data->bytes.size();
      if (env == nullptr) {  // torn down before JS took it
        delete data;
        return;
      }
      Napi::Buffer<uint8_t> buffer;
      if (data->bytes.empty()) {
        // A flush that found nothing: an empty Buffer of its own (an empty vector has no memory to lend).
        delete data;
        buffer = Napi::Buffer<uint8_t>::New(env, 0);
      } else {
        // The Buffer owns the batch's memory: freed when JS drops the Buffer, no copy.
        buffer = Napi::Buffer<uint8_t>::New(
            env, data->bytes.data(), data->bytes.size(), [](Napi::Env, uint8_t*, Batch* owned) { delete owned; }, data);
      }
      try {
        callback.Call({buffer});
      } catch (const Napi::Error& error) {
        error.ThrowAsJavaScriptException();
      }
    });
    if (status == napi_ok) {
      delivered_records_ += records;
      delivered_batches_++;
    } else {
      queued_bytes_ -= bytes;
      dropped_records_ += records;
      delete batch;
    }
  }

  void ReportDrainError(int err) {
    auto* code = new int(err);
    napi_status status = tsfn_.NonBlockingCall(code, [this](Napi::Env env, Napi::Function, int* data) {
      int value = *data;
      delete data;
      if (on_error_.IsEmpty()) return;
      on_error_.Call({MakeBpfError(env, "read the ring buffer", value, "").Value()});
    });
    if (status != napi_ok) delete code;
  }

  // The one cleanup path: stop the drain thread, detach, close, free. Safe to call twice.
  void Teardown() {
    if (thread_.joinable()) {
      running_ = false;
      Wake();
      thread_.join();
    }
    for (int* fd : {&wait_fd_, &wake_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    if (tsfn_live_) {
      tsfn_.Release();
      tsfn_live_ = false;
    }
    if (ring_ != nullptr) {
      ring_buffer__free(ring_);
      ring_ = nullptr;
    }
    DetachPageFaults();
    probe_sets_.Clear();
    // Destroying a perf-event link closes its perf event's fd (libbpf owns it from the attach).
    for (struct bpf_link* link : links_) bpf_link__destroy(link);
    links_.clear();
    perf_fds_.clear();
    if (skel_ != nullptr) {
      ReadCounters();
      ReadProgramRunTime();
      unwind_maps_.Detach();
      sampler_bpf__destroy(skel_);
      skel_ = nullptr;
    }
  }

  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  uint32_t frequency_ = 99;
  uint32_t target_pid_ = 0;
  uint32_t ring_bytes_ = 8u << 20;
  uint32_t batch_interval_ms_ = 1000;
  uint32_t max_queued_bytes_ = kDefaultMaxQueuedBytes;
  bool unwind_tables_ = false;
  uint32_t unwind_rows_ = 0;
  uint32_t unwind_mappings_ = 0;
  uint32_t unwind_processes_ = 0;
  UnwindMaps unwind_maps_;
  int wait_fd_ = -1;  // epoll set: ring buffer + wake_fd_
  int wake_fd_ = -1;  // eventfd written by Flush and Teardown to wake the drain thread

  struct sampler_bpf* skel_ = nullptr;
  std::vector<int> perf_fds_;
  std::vector<struct bpf_link*> links_;
  bool page_faults_loaded_ = false;
  uint32_t page_fault_period_ = 0;  // faults per sample; 0 while no page-fault event is attached
  std::vector<int> page_fault_fds_;
  std::vector<struct bpf_link*> page_fault_links_;
  struct ring_buffer* ring_ = nullptr;
  Batch batch_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  Napi::ThreadSafeFunction tsfn_;
  bool tsfn_live_ = false;
  std::atomic<uint64_t> delivered_records_{0};
  std::atomic<uint64_t> dropped_records_{0};
  std::atomic<size_t> queued_bytes_{0};  // bytes of batches handed to the TSFN that JS has not taken
  std::atomic<uint64_t> delivered_batches_{0};
  uint64_t counters_[TAIL2_COUNTER_MAX] = {};
  uint64_t bpf_run_time_ns_ = 0;
  bool allocations_wanted_ = false;
  uint32_t alloc_mean_bytes_ = 512u << 10;
  uint32_t alloc_max_tracked_ = 32768;
  std::string allocations_unavailable_ = "the sampler is not running";
  bool copies_wanted_ = false;
  uint32_t copy_mean_bytes_ = 512u << 10;
  std::string copies_unavailable_ = "the sampler is not running";
  uint32_t session_attach_type_ = 0;
  ProbeSets probe_sets_{TAIL2_MAX_PROBE_SETS};
  std::pair<uint64_t, uint64_t> copy_run_stats_ = {};  // the copy program's run time (ns), runs
  uint64_t alloc_run_time_ns_ = 0;
  uint64_t alloc_runs_ = 0;
  std::pair<uint64_t, uint64_t> alloc_program_stats_[6] = {};  // per AllocationPrograms(): run time (ns), runs
  size_t attached_cpus_ = 0;
  bool started_once_ = false;
};

// describeBpfError(step, errno, log): the Error the sampler would throw, so tests can check every
// failure class without making the kernel fail.
Napi::Value DescribeBpfError(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsString())
    throw Napi::TypeError::New(env, "describeBpfError(step: string, errno: number, log: string)");
  return MakeBpfError(env, info[0].As<Napi::String>(), info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::String>()).Value();
}

}  // namespace

void InitSampler(Napi::Env env, Napi::Object exports) {
  exports.Set("Sampler", Sampler::Define(env));
  exports.Set("describeBpfError", Napi::Function::New(env, DescribeBpfError, "describeBpfError"));
  exports.Set("RECORD_HEADER_BYTES", Napi::Number::New(env, sizeof(struct tail2_sample)));
  exports.Set("RECORD_VERSION", Napi::Number::New(env, TAIL2_RECORD_VERSION));
  exports.Set("MAX_STACK_DEPTH", Napi::Number::New(env, TAIL2_MAX_STACK_DEPTH));
  exports.Set("MAX_USER_DEPTH", Napi::Number::New(env, TAIL2_MAX_USER_DEPTH));
  // Field offsets of struct tail2_sample, so a test can hold the TypeScript decoder to the C layout.
  Napi::Object layout = Napi::Object::New(env);
#define TAIL2_FIELD(name) layout.Set(#name, Napi::Number::New(env, offsetof(struct tail2_sample, name)))
  TAIL2_FIELD(timestamp_ns);
  TAIL2_FIELD(cgroup_id);
  TAIL2_FIELD(start_time_ns);
  TAIL2_FIELD(weight);
  TAIL2_FIELD(address);
  TAIL2_FIELD(size);
  TAIL2_FIELD(pid);
  TAIL2_FIELD(tid);
  TAIL2_FIELD(cpu);
  TAIL2_FIELD(kstack_len);
  TAIL2_FIELD(ustack_len);
  TAIL2_FIELD(version);
  TAIL2_FIELD(flags);
  TAIL2_FIELD(kind);
  TAIL2_FIELD(comm);
  TAIL2_FIELD(stacks);
#undef TAIL2_FIELD
  exports.Set("RECORD_LAYOUT", layout);
}
