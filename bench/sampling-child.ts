import { Recording } from '../daemon/profile/recording.js';
import { StackSampler } from '../daemon/sampler/stack-sampler.js';

// The process whose CPU time the overhead benchmark measures: samples every CPU and ingests every
// batch (decode + intern + append, as the daemon does) for argv[2] seconds. Prints, as JSON, the
// CPU it spent while sampling, the CPU of the last two thirds of the run (the steady state of an
// always-on sampler, after start-up and JIT warm-up), and the BPF program's own run time (charged
// by the kernel to the sampled tasks, not to this process).
const seconds = Number(process.argv[2] ?? 30);
const frequency = Number(process.argv[3] ?? 99);
// argv[4], when given: page faults sampled too, one sample per that many faults (0: loaded, not attached).
const pageFaultPeriod = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
const recording = new Recording();
const sampler = new StackSampler({
  frequency,
  pageFaults: pageFaultPeriod === undefined ? undefined : { period: pageFaultPeriod },
  onBatch: (batch) => recording.ingest(batch),
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cpuSeconds = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;

const beforeStart = process.cpuUsage();
sampler.start();
await sleep((seconds * 1000) / 3);
const steadyFrom = process.cpuUsage();
await sleep((seconds * 2000) / 3);
const steady = process.cpuUsage(steadyFrom);
await sampler.stop();
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
