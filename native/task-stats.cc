#include "task-stats-addon.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "libbpf-error.h"
#include "signals-held.h"
#include "task-stats.skel.h"
// bpf/task-stats.h (the record layout) needs the __u64 family from linux/types.h, included above.
#include "task-stats.h"

namespace {

// Bytes asked of each read(): the kernel hands out at most its seq buffer (8 pages) per call, so
// more only saves nothing; the records of one round accumulate in `records_`.
constexpr size_t kReadChunk = 64 * 1024;
// A host has at most pid_max (4M) tasks; 64-byte records: a ceiling no real read approaches,
// which keeps a runaway iteration from taking the daemon's memory.
constexpr size_t kMaxRecordBytes = 256u << 20;
constexpr int kLoadAttempts = 5;

// TaskStats: loads the iterator, attaches it once, and on read() creates an iterator fd, reads it
// to the end and folds the thread records into their processes. Exposed to JS as class
// `TaskStats`; read() returns column arrays (one entry per process) that the collector turns into
// readings without a string or object per process it has seen before.
class TaskStats : public Napi::ObjectWrap<TaskStats> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TaskStats", {InstanceMethod("read", &TaskStats::Read), InstanceMethod("close", &TaskStats::Close)});
  }

  explicit TaskStats(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TaskStats>(info) {
    Napi::Env env = info.Env();
    LibbpfLogCapture log;
    // Signals wait until the load is done (see signals-held.h); and since a loaded object cannot
    // be loaded again, each attempt that still fails with EAGAIN starts from a fresh open.
    SignalsHeld held;
    for (int attempt = 1;; attempt++) {
      skel_ = task_stats_bpf__open();
      if (skel_ == nullptr) throw MakeBpfError(env, "open the task-stats BPF object", errno, log.Text());
      int err = task_stats_bpf__load(skel_);
      if (err == 0) break;
      Teardown();
      if (err != -EAGAIN || attempt == kLoadAttempts) throw MakeBpfError(env, "load the task iterator (iter/task)", -err, log.Text());
    }
    link_ = bpf_program__attach_iter(skel_->progs.dump_task, nullptr);
    if (link_ == nullptr) {
      int attach_err = errno;
      Teardown();
      throw MakeBpfError(env, "attach the task iterator (iter/task)", attach_err, log.Text());
    }
  }

  ~TaskStats() override { Teardown(); }

 private:
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (link_ == nullptr) throw Napi::Error::New(env, "TaskStats: closed");
    int fd = bpf_iter_create(bpf_link__fd(link_));
    if (fd < 0) throw MakeBpfError(env, "start a task iteration", -fd, "");
    records_.clear();
    for (;;) {
      size_t used = records_.size();
      if (used + kReadChunk > kMaxRecordBytes) break;
      records_.resize(used + kReadChunk);
      ssize_t n = read(fd, records_.data() + used, kReadChunk);
      if (n < 0 && errno == EINTR) {
        records_.resize(used);
        continue;
      }
      if (n < 0) {
        int read_err = errno;
        close(fd);
        throw MakeBpfError(env, "read the task iterator", read_err, "");
      }
      records_.resize(used + static_cast<size_t>(n));
      if (n == 0) break;
    }
    close(fd);
    return Fold(env);
  }

  // Leaders become rows; each thread's runtime is added to its process's row (a thread may come
  // before its leader: the iteration goes by thread id).
  Napi::Value Fold(Napi::Env env) {
    thread_runtime_.clear();
    size_t leaders = 0;
    size_t offset = 0;
    while (offset + sizeof(__u32) <= records_.size()) {
      __u32 kind;
      memcpy(&kind, records_.data() + offset, sizeof(kind));
      if (kind == TAIL2_TASK_RECORD_LEADER && offset + sizeof(tail2_task_leader) <= records_.size()) {
        leaders++;
        offset += sizeof(tail2_task_leader);
      } else if (kind == TAIL2_TASK_RECORD_THREAD && offset + sizeof(tail2_task_thread) <= records_.size()) {
        tail2_task_thread thread;
        memcpy(&thread, records_.data() + offset, sizeof(thread));
        thread_runtime_[thread.tgid] += thread.runtime_ns;
        offset += sizeof(tail2_task_thread);
      } else {
        break;  // a layout this addon does not know: never read past it
      }
    }
    Napi::Int32Array pids = Napi::Int32Array::New(env, leaders);
    Napi::Int32Array ppids = Napi::Int32Array::New(env, leaders);
    Napi::Float64Array start_ns = Napi::Float64Array::New(env, leaders);
    Napi::Float64Array cpu_ns = Napi::Float64Array::New(env, leaders);
    Napi::Float64Array rss_pages = Napi::Float64Array::New(env, leaders);
    Napi::Uint8Array flags = Napi::Uint8Array::New(env, leaders);
    Napi::Buffer<uint8_t> comms = Napi::Buffer<uint8_t>::New(env, leaders * TAIL2_TASK_COMM_LEN);
    size_t row = 0;
    offset = 0;
    while (row < leaders && offset + sizeof(__u32) <= records_.size()) {
      __u32 kind;
      memcpy(&kind, records_.data() + offset, sizeof(kind));
      if (kind == TAIL2_TASK_RECORD_THREAD) {
        offset += sizeof(tail2_task_thread);
        continue;
      }
      tail2_task_leader leader;
      memcpy(&leader, records_.data() + offset, sizeof(leader));
      offset += sizeof(tail2_task_leader);
      uint64_t runtime = leader.runtime_ns + leader.dead_runtime_ns;
      auto threads = thread_runtime_.find(leader.tgid);
      if (threads != thread_runtime_.end()) runtime += threads->second;
      pids[row] = static_cast<int32_t>(leader.tgid);
      ppids[row] = static_cast<int32_t>(leader.ppid);
      start_ns[row] = static_cast<double>(leader.start_boottime_ns);
      cpu_ns[row] = static_cast<double>(runtime);
      rss_pages[row] = static_cast<double>(leader.rss_pages);
      flags[row] = static_cast<uint8_t>(leader.flags);
      memcpy(comms.Data() + row * TAIL2_TASK_COMM_LEN, leader.comm, TAIL2_TASK_COMM_LEN);
      row++;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Napi::Number::New(env, static_cast<double>(leaders)));
    out.Set("pids", pids);
    out.Set("ppids", ppids);
    out.Set("startNs", start_ns);
    out.Set("cpuNs", cpu_ns);
    out.Set("rssPages", rss_pages);
    out.Set("flags", flags);
    out.Set("comms", comms);
    out.Set("bytes", Napi::Number::New(env, static_cast<double>(records_.size())));
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Teardown();
    return info.Env().Undefined();
  }

  void Teardown() {
    if (link_ != nullptr) {
      bpf_link__destroy(link_);
      link_ = nullptr;
    }
    if (skel_ != nullptr) {
      task_stats_bpf__destroy(skel_);
      skel_ = nullptr;
    }
    std::vector<uint8_t>().swap(records_);
  }

  struct task_stats_bpf* skel_ = nullptr;
  struct bpf_link* link_ = nullptr;
  std::vector<uint8_t> records_;
  std::unordered_map<__u32, uint64_t> thread_runtime_;
};

}  // namespace

void InitTaskStats(Napi::Env env, Napi::Object exports) {
  exports.Set("TaskStats", TaskStats::Define(env));
}
