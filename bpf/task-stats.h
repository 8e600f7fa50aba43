/* The records the task-stats iterator (task-stats.bpf.c) writes when its link is read: the one
 * description of them; native/task-stats.cc includes it.
 *
 * One read of the iterator visits every task (thread) of the host once. A thread-group leader
 * writes a tail2_task_leader (what /proc/PID/stat says of the process: comm, start time, resident
 * pages, the CPU time of its exited threads); every other thread a tail2_task_thread (its own CPU
 * time). A process's CPU time is its leader's dead_runtime_ns plus the runtime_ns of each of its
 * live threads, leader included: the sum the kernel makes for /proc/PID/stat, in nanoseconds. */
#ifndef TAIL2_TASK_STATS_H
#define TAIL2_TASK_STATS_H

#define TAIL2_TASK_COMM_LEN 16

#define TAIL2_TASK_RECORD_LEADER 1
#define TAIL2_TASK_RECORD_THREAD 2

#define TAIL2_TASK_FLAG_KERNEL_THREAD 0x1 /* no user address space (PF_KTHREAD) */
#define TAIL2_TASK_FLAG_ZOMBIE 0x2        /* exited, not yet reaped */

struct tail2_task_thread {
  __u32 kind; /* TAIL2_TASK_RECORD_THREAD */
  __u32 tgid;
  __u64 runtime_ns; /* se.sum_exec_runtime: CPU time this thread ran */
};

struct tail2_task_leader {
  __u32 kind; /* TAIL2_TASK_RECORD_LEADER */
  __u32 tgid;
  __u64 runtime_ns;      /* the leader thread's own CPU time */
  __u64 dead_runtime_ns; /* signal->sum_sched_runtime: CPU time of the process's exited threads */
  __u64 start_boottime_ns; /* /proc/PID/stat field 22 is this in clock ticks */
  __u64 rss_pages;       /* file + anon + shmem resident pages, as /proc/PID/stat field 24 */
  __u32 ppid;
  __u32 flags;           /* TAIL2_TASK_FLAG_* */
  char comm[TAIL2_TASK_COMM_LEN];
};

#endif
