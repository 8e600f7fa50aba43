import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { buildCFixture, repoRoot } from '../harness/fixture-programs.js';
import { runMeasured } from './process-cpu.js';

export interface OverheadResult {
  seconds: number;
  cpus: number;
  /** whole process: start-up, BPF load, sampling, exit */
  tail2CpuSeconds: number;
  /** from sampler start to stop: BPF load, sampling, ingest; without Node's own start-up */
  tail2SamplingCpuSeconds: number;
  /** CPU per second in the last two thirds of the run: what an always-on sampler costs */
  tail2SteadyCpuPerSecond: number;
  tail2BpfSeconds: number;
  tail2Samples: number;
  perfCpuSeconds: number;
  /** tail2 whole-process CPU as % of one core, per sampled CPU */
  tail2PercentPerCpu: number;
  /** tail2 steady-state CPU as % of one core, per sampled CPU */
  tail2SteadyPercentPerCpu: number;
  perfPercentPerCpu: number;
  /** tail2 whole process / perf whole process */
  ratio: number;
  /** tail2 start-to-stop / perf whole process */
  samplingRatio: number;
}

/**
 * CPU cost of sampling every CPU at 99 Hz for `seconds` while each CPU runs a burner: tail2 (BPF
 * sampler + ingest, as the daemon runs it) against `perf record -F 99 -a -g` on the same workload,
 * one after the other in the same run.
 */
export function runOverheadBench(seconds = 30): OverheadResult {
  const cpuCount = cpus().length;
  const burner = buildCFixture('burner');
  const burners: ChildProcess[] = Array.from({ length: cpuCount }, (_, cpu) => spawn('taskset', ['-c', String(cpu), burner, '0'], { stdio: 'ignore' }));
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  try {
    const child = join(repoRoot, 'dist', 'bench', 'sampling-child.js');
    const tail2 = runMeasured([process.execPath, child, String(seconds), '99']);
    const inner = JSON.parse(tail2.stdout) as { samplingCpuSeconds: number; steadyCpuSeconds: number; steadySeconds: number; bpfSeconds: number; samples: number };
    const perf = runMeasured(['perf', 'record', '-F', '99', '-a', '-g', '-o', '/tmp/tail2-bench-perf.data', '--', 'sleep', String(seconds)]);
    const perCpu = (cpuSeconds: number) => (cpuSeconds / seconds / cpuCount) * 100;
    return {
      seconds,
      cpus: cpuCount,
      tail2CpuSeconds: tail2.cpuSeconds,
      tail2SamplingCpuSeconds: inner.samplingCpuSeconds,
      tail2SteadyCpuPerSecond: inner.steadyCpuSeconds / inner.steadySeconds,
      tail2BpfSeconds: inner.bpfSeconds,
      tail2Samples: inner.samples,
      perfCpuSeconds: perf.cpuSeconds,
      tail2PercentPerCpu: perCpu(tail2.cpuSeconds),
      tail2SteadyPercentPerCpu: ((inner.steadyCpuSeconds / inner.steadySeconds) / cpuCount) * 100,
      perfPercentPerCpu: perCpu(perf.cpuSeconds),
      ratio: tail2.cpuSeconds / perf.cpuSeconds,
      samplingRatio: inner.samplingCpuSeconds / perf.cpuSeconds,
    };
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '0');
    for (const burnerProcess of burners) burnerProcess.kill('SIGKILL');
  }
}
