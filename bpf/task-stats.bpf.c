// SPDX-License-Identifier: GPL-2.0
/* A task iterator (iter/task): reading its link once gives the CPU time, resident memory and name
 * of every process on the host, in one read() loop instead of one /proc/PID/stat file per
 * process. The record layout is task-stats.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "task-stats.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000
#define EXIT_ZOMBIE 0x00000020
/* enum mm counters: MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES; rss is all but swap */
#define MM_FILEPAGES 0
#define MM_ANONPAGES 1
#define MM_SHMEMPAGES 3

/* percpu_counter_read_positive(): the counter's shared count, as get_mm_counter() reads it for
 * /proc; per-CPU deltas not folded in yet are left out there too. */
static __always_inline __u64 mm_counter(struct mm_struct *mm, int which) {
  s64 count = mm->rss_stat[which].count;
  return count > 0 ? (__u64)count : 0;
}

/* Fields are read by direct loads of the task's BTF pointers (relocated by CO-RE through
 * vmlinux.h's preserve_access_index, and fault-safe): a helper call per field would cost more than
 * the rest of the visit. */
SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct task_struct *task = ctx->task;
  if (task == NULL) return 0; /* the end of the iteration */

  __u32 tgid = task->tgid;
  __u64 runtime = task->se.sum_exec_runtime;
  if (task->pid != tgid) {
    struct tail2_task_thread thread = {.kind = TAIL2_TASK_RECORD_THREAD, .tgid = tgid, .runtime_ns = runtime};
    bpf_seq_write(seq, &thread, sizeof(thread));
    return 0;
  }

  struct tail2_task_leader leader = {};
  leader.kind = TAIL2_TASK_RECORD_LEADER;
  leader.tgid = tgid;
  leader.runtime_ns = runtime;
  struct signal_struct *signal = task->signal;
  if (signal != NULL) leader.dead_runtime_ns = signal->sum_sched_runtime;
  leader.start_boottime_ns = task->start_boottime;
  struct task_struct *parent = task->real_parent;
  if (parent != NULL) leader.ppid = parent->tgid;
  if (task->flags & PF_KTHREAD) leader.flags |= TAIL2_TASK_FLAG_KERNEL_THREAD;
  if (task->exit_state & EXIT_ZOMBIE) leader.flags |= TAIL2_TASK_FLAG_ZOMBIE;
  struct mm_struct *mm = task->mm;
  if (mm != NULL) leader.rss_pages = mm_counter(mm, MM_FILEPAGES) + mm_counter(mm, MM_ANONPAGES) + mm_counter(mm, MM_SHMEMPAGES);
  bpf_probe_read_kernel(&leader.comm, sizeof(leader.comm), task->comm);
  bpf_seq_write(seq, &leader, sizeof(leader));
  return 0;
}
