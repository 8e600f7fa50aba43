import { PROFILE_KINDS } from '../model/profile-kind.js';
import type { SampleSource, StackTables } from './sample-source.js';

/** CPU in cores, as the CPU samples of a stretch show it. */
export interface SampledCpu {
  /** Cores each process (pid) used; processes without a sample are absent. The idle task is left out. */
  byPid: Map<number, number>;
  /** Cores every task but the idle task used together. */
  busyCores: number;
  /** Each process's name as its samples give it (the comm of its first sampled thread). */
  comms: Map<number, string>;
}

/**
 * Per-process CPU estimated from the CPU samples in [fromNs, toNs): a task on a CPU for the whole
 * stretch yields `frequency` samples a second, so a process's cores are its samples times the
 * sampling period over the stretch. An estimate — at 99 Hz over half a second a process at one
 * core has ~50 samples, ±7% — good for noticing that a process may have crossed a threshold
 * between two metric rounds, never a reading a rule fires on (those come from the kernel's
 * counters, daemon/metrics/).
 */
export function sampledCpu(tables: StackTables, source: SampleSource, fromNs: number, toNs: number, frequency: number): SampledCpu {
  const { stacks, processes } = tables;
  const cpuRecord = PROFILE_KINDS.cpu.record;
  // Each stack's pid, looked up once (-1: not a CPU sample, or the idle task).
  const pids = new Map<number, number>();
  const counts = new Map<number, number>();
  const comms = new Map<number, string>();
  let busy = 0;
  source.forEachSample(fromNs, toNs, (_timeNs, stackId) => {
    let pid = pids.get(stackId);
    if (pid === undefined) {
      const process = stacks.kindOf(stackId) === cpuRecord ? processes.get(stacks.processOf(stackId)) : undefined;
      pid = process && process.pid !== 0 ? process.pid : -1;
      if (process && pid > 0) comms.set(pid, process.comm);
      pids.set(stackId, pid);
    }
    if (pid < 0) return;
    busy++;
    counts.set(pid, (counts.get(pid) ?? 0) + 1);
  });
  const coresPerSample = 1e9 / frequency / Math.max(1, toNs - fromNs);
  const byPid = new Map<number, number>();
  for (const [pid, count] of counts) byPid.set(pid, count * coresPerSample);
  return { byPid, busyCores: busy * coresPerSample, comms };
}
