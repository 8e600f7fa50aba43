import { loadNativeAddon, type NativeTaskStats } from '../sampler/native-addon.js';

/** The task iterator opened, or why it could not be (the collector then reads /proc). */
export type TaskIteratorOpening = { stats: NativeTaskStats } | { reason: string };

/**
 * Loads and attaches bpf/task-stats.bpf.c (an `iter/task` program, Linux 5.8+ with BTF). It needs
 * CAP_BPF and CAP_PERFMON (root has them); where it cannot load — an older kernel, a kernel whose
 * mm_struct counts RSS otherwise, no BPF rights — the reason says so and /proc is read instead.
 */
export function openTaskIterator(): TaskIteratorOpening {
  try {
    return { stats: new (loadNativeAddon().TaskStats)() };
  } catch (error) {
    const { message, hint } = error as Error & { hint?: string };
    return { reason: `the BPF task iterator could not be loaded (${message}${hint ? ` ${hint}` : ''}); per-process CPU and RSS are read from /proc/PID/stat instead, which costs more with many processes.` };
  }
}
