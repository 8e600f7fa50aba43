import { recordCacheDir } from '../daemon/cli/record-cache-dir.js';
import { Recording } from '../daemon/profile/recording.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';
import { ProcessFiles } from '../daemon/symbols/process-files.js';
import { processAlive } from '../daemon/unwind/process-alive.js';
import { unwindCapacities } from '../daemon/unwind/unwind-budget.js';
import { UnwindLoader } from '../daemon/unwind/unwind-loader.js';
import { UnwindTables } from '../daemon/unwind/unwind-tables.js';

// The process whose CPU time the overhead benchmark measures: samples every CPU and ingests every
// batch (decode + intern + append, as the daemon does) for argv[2] seconds. Prints, as JSON, the
// CPU it spent while sampling, the CPU of the last two thirds of the run (the steady state of an
// always-on sampler, after start-up and JIT warm-up), and the BPF program's own run time (charged
// by the kernel to the sampled tasks, not to this process).
const seconds = Number(process.argv[2] ?? 30);
const frequency = Number(process.argv[3] ?? 99);
// argv[4], when given: page faults sampled too, one sample per that many faults (0: loaded, not attached).
const pageFaultPeriod = process.argv[4] === undefined || process.argv[4] === '-' ? undefined : Number(process.argv[4]);
// argv[5] `tables`: user stacks walked with unwind tables, loaded as tail2d and tail2 record load
// them (tail2-reader processes, tail2 record's table cache); otherwise by frame pointer alone.
const withTables = process.argv[5] === 'tables';
const files = withTables ? new ProcessFiles() : undefined;
let loader: UnwindLoader | undefined;
const recording = files
  ? new Recording((pid, startTimeNs) => files.snapshot(pid, startTimeNs), {
      tablesWanted: (pid, startTimeNs, unknownMapping) => loader?.tablesWanted(pid, startTimeNs, unknownMapping),
      gone: (pid, startTimeNs) => loader?.gone(pid, startTimeNs),
    })
  : new Recording();
const sampler = new StackSampler({
  frequency,
  pageFaults: pageFaultPeriod === undefined ? undefined : { period: pageFaultPeriod },
  unwind: withTables ? unwindCapacities(64 << 20) : undefined,
  onBatch: (batch) => recording.ingest(batch),
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuSeconds = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;

const beforeStart = process.cpuUsage();
sampler.start();
const maps = sampler.unwindMaps();
if (files && maps) {
  const tables = new UnwindTables({ files, stateDir: recordCacheDir(), onProblem: () => undefined });
  loader = new UnwindLoader({ maps, tables, snapshot: (pid, startTimeNs) => files.snapshot(pid, startTimeNs), alive: processAlive });
}
await sleep((seconds * 1000) / 3);
const steadyFrom = process.cpuUsage();
await sleep((seconds * 2000) / 3);
const steady = process.cpuUsage(steadyFrom);
await sampler.stop();
loader?.close();
files?.close();
const sampling = process.cpuUsage(beforeStart);
process.stdout.write(
  JSON.stringify({
    samplingCpuSeconds: cpuSeconds(sampling),
    steadyCpuSeconds: cpuSeconds(steady),
    steadySeconds: (seconds * 2) / 3,
    bpfSeconds: (sampler.stats()?.bpfRunTimeNs ?? NaN) / 1e9,
    samples: recording.samples.length,
    stats: sampler.stats(),
  }) + '\n',
);
