import { cpus, release } from 'node:os';
import { runAccuracyBench } from './accuracy-bench.js';
import { runIngestBench } from './ingest-bench.js';
import { runOverheadBench } from './overhead-bench.js';

// `npm run bench [ingest|overhead|accuracy …]`: prints each figure with its target and, where there
// is one, its ratio against a baseline measured in the same run.
const selected = new Set(process.argv.slice(2));
const wants = (name: string) => selected.size === 0 || selected.has(name);
const pass = (ok: boolean) => (ok ? 'meets target' : 'MISSES target');

console.log(`tail2 benchmarks — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Linux ${release()}, Node ${process.version}`);

if (wants('ingest')) {
  const r = runIngestBench();
  console.log(
    `\ningest (decode + intern + append, one core): ${(r.samplesPerSecond / 1e6).toFixed(2)} M samples/s ` +
      `(${r.samples.toLocaleString()} samples, ${r.uniqueStacks} unique stacks, ${r.seconds.toFixed(2)} s; ${r.bytesPerSample} B/sample) — target ≥ 1 M/s: ${pass(r.samplesPerSecond >= 1e6)}`,
  );
}

if (wants('overhead')) {
  const r = runOverheadBench(Number(process.env.TAIL2_BENCH_SECONDS ?? 30));
  console.log(`\noverhead, every CPU busy, 99 Hz, ${r.seconds} s, ${r.cpus} CPUs:`);
  console.log(`  perf record -F 99 -a -g, whole process:   ${r.perfCpuSeconds.toFixed(3)} CPU s = ${r.perfPercentPerCpu.toFixed(3)}% of one core per sampled CPU`);
  console.log(`  tail2 sampler + ingest, whole process:     ${r.tail2CpuSeconds.toFixed(3)} CPU s = ${r.tail2PercentPerCpu.toFixed(3)}% of one core per sampled CPU (${r.tail2Samples} samples) — ratio to perf ${r.ratio.toFixed(2)}: ${pass(r.ratio < 1)} (below perf)`);
  console.log(`  tail2 start to stop (BPF load + sampling + ingest, no Node start-up): ${r.tail2SamplingCpuSeconds.toFixed(3)} CPU s — ratio to perf ${r.samplingRatio.toFixed(2)}: ${pass(r.samplingRatio < 1)} (below perf)`);
  console.log(`  tail2 steady state (last 2/3 of the run):  ${(r.tail2SteadyCpuPerSecond * 1000).toFixed(2)} ms CPU/s = ${r.tail2SteadyPercentPerCpu.toFixed(3)}% of one core per sampled CPU — ${pass(r.tail2SteadyPercentPerCpu <= 0.3)} (≤ 0.3%)`);
  console.log(`  tail2 BPF program time (charged to the sampled tasks, not to tail2): ${(r.tail2BpfSeconds * 1000).toFixed(1)} ms`);
}

if (wants('accuracy')) {
  const r = await runAccuracyBench();
  console.log(`\naccuracy, top-10 self-time functions of the mixer fixture (perf ${r.perfSamples} samples, tail2 ${r.tail2Samples}):`);
  for (const row of r.rows) console.log(`  ${row.name.padEnd(12)} perf ${row.perfPercent.toFixed(2).padStart(6)}%   tail2 ${row.tail2Percent.toFixed(2).padStart(6)}%   Δ ${(row.tail2Percent - row.perfPercent).toFixed(2)}`);
  console.log(`  largest difference: ${r.maxDifferencePoints.toFixed(2)} points — target ≤ 2: ${pass(r.maxDifferencePoints <= 2)}`);
}
