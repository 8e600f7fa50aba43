import { cpus, release } from 'node:os';
import { runAccuracyBench } from './accuracy-bench.js';
import { runAllocationBench } from './allocation-bench.js';
import { runBufferBenchInChild } from './buffer-bench.js';
import { ALERT_LATENCY_TARGETS, runAlertLatencyBench } from './alert-latency-bench.js';
import { runBurstBench } from './burst-bench.js';
import { runCollectorBench } from './collector-bench.js';
import { runDaemonCostBench } from './daemon-cost-bench.js';
import { runIngestBench } from './ingest-bench.js';
import { formatMemoryReading, runMemoryBench } from './memory-bench.js';
import { runNotifyBench } from './notify-bench.js';
import { runOverheadBench } from './overhead-bench.js';
import { runPageFaultBench } from './page-fault-bench.js';
import { runRecordBench } from './record-bench.js';
import { runRenderBench } from './render-bench.js';
import { runSelfProfileBench } from './self-profile-bench.js';
import { formatStoreBench, runStoreBench } from './store-bench.js';
import { runUnwindTableBench } from './unwind-table-bench.js';
import { runUnwindBench } from './unwind-bench.js';

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

if (wants('allocations')) {
  const r = await runAllocationBench(Number(process.env.TAIL2_BENCH_SECONDS ?? 4));
  console.log(`\nallocation probes: a process (no frame pointers) doing work with a malloc(${r.size}) and its free in it, probes off and on in the same run (off, on, off), one sample per ${r.meanBytes / 1024} KiB allocated, ${r.seconds} s each:`);
  for (const run of r.runs) {
    const goal = run.targetRate <= 1e4 ? ` — goal ≤ 1.05×: ${pass(run.slowdown <= 1.05)}` : '';
    console.log(
      `  ${(run.targetRate / 1000).toLocaleString('en-US')}k allocations/s: ${Math.round(run.opsOff).toLocaleString('en-US')} ops/s off, ${Math.round(run.opsOn).toLocaleString('en-US')} on: ${run.slowdown.toFixed(3)}× slower${goal}; ` +
        `${Math.round(run.addedNsPerCall)} ns added per probed call (trap and program); BPF ${Math.round(run.mallocProgramNs)} ns per malloc entry, ${Math.round(run.freeProgramNs)} ns per free; ${run.samples} sampled`,
    );
  }
  console.log(`  every allocation sampled (mean 1 B): ${(r.sampledNsPerAllocation / 1000).toFixed(1)} µs of BPF per allocation (entry with its stack walk, return, free)`);
}

if (wants('page-faults')) {
  const r = await runPageFaultBench(Number(process.env.TAIL2_BENCH_SECONDS ?? 10));
  const gib = (c: { faulter: { bytes: number } }) => c.faulter.bytes / 1024 ** 3;
  // CPU per GiB made resident: the runs make slightly different amounts in the same time.
  const perGib = (c: { faulter: { cpu_s: number; bytes: number } }) => c.faulter.cpu_s / gib(c);
  const { alone, tail2Cpu, tail2Faults, perf, perfDwarf } = r.paced;
  console.log(`\npage-fault profile: a process (no frame pointers) making ${r.rateMiBPerSecond} MiB/s of new memory resident for ${r.seconds} s, one sample per ${r.period} faults, tail2 walking with unwind tables (median of ${r.rounds} runs each, taking turns):`);
  for (const c of [alone, tail2Cpu, tail2Faults, perf, perfDwarf]) {
    const walks = c.tableWalks !== undefined ? `, ${c.tableWalks.toLocaleString('en-US')} walks with tables, ${(c.walksWithoutTables ?? 0).toLocaleString('en-US')} without` : '';
    const samples = c.pageFaultSamples > 0 ? `; ${c.pageFaultSamples.toLocaleString('en-US')} page-fault samples (${Math.round(c.pageFaultSamples / r.seconds)}/s)${walks}` : '';
    console.log(
      `  ${c.name.padEnd(48)} faulter ${(perGib(c) * 1000).toFixed(0)} ms CPU per GiB (${gib(c).toFixed(1)} GiB, ${((c.faulter.cpu_s / c.faulter.faults) * 1e9).toFixed(0)} ns per fault); profiler process ${c.profilerCpuSeconds.toFixed(2)} s${samples}`,
    );
  }
  // What the page-fault profile adds, per second at this rate: in the faulting process (the BPF
  // program runs on its faults) and in the profiler's own process.
  const addedTail2 = ((perGib(tail2Faults) - perGib(tail2Cpu)) * r.rateMiBPerSecond) / 1024 + (tail2Faults.profilerCpuSeconds - tail2Cpu.profilerCpuSeconds) / r.seconds;
  const addedBy = (c: typeof perf) => ((perGib(c) - perGib(alone)) * r.rateMiBPerSecond) / 1024 + c.profilerCpuSeconds / r.seconds;
  const addedPerf = addedBy(perf);
  const addedDwarf = addedBy(perfDwarf);
  // Both tail2 runs sample the CPUs for as long: what the second adds is the page-fault program's.
  const bpfPerSample = (tail2Faults.bpfNs - tail2Cpu.bpfNs) / Math.max(1, tail2Faults.pageFaultSamples);
  console.log(`  BPF time per page-fault sample (stack walk and record): ${(bpfPerSample / 1000).toFixed(1)} µs`);
  // Measured directly, without the faulter's run-to-run spread: BPF time plus tail2's own process.
  const direct = (tail2Faults.bpfNs - tail2Cpu.bpfNs) / 1e9 / r.seconds + (tail2Faults.profilerCpuSeconds - tail2Cpu.profilerCpuSeconds) / r.seconds;
  console.log(`  tail2's page faults, measured directly (BPF run time + tail2's process): ${(direct * 1000).toFixed(1)} ms CPU per second = ${(direct * 100).toFixed(2)}% of one core`);
  console.log(
    `  added by the page faults, per second at ${r.rateMiBPerSecond} MiB/s (faulter CPU + profiler process): tail2 ${(addedTail2 * 1000).toFixed(1)} ms, perf -g ${(addedPerf * 1000).toFixed(1)} ms, perf dwarf ${(addedDwarf * 1000).toFixed(1)} ms — ratio tail2/perf dwarf ${(addedTail2 / addedDwarf).toFixed(2)}: ${pass(addedTail2 < addedDwarf)} (below perf); tail2/perf -g ${(addedTail2 / addedPerf).toFixed(2)}`,
  );
  const slowdown = perGib(tail2Faults) / perGib(tail2Cpu);
  console.log(`  slowdown of the faulting process's CPU per GiB (page faults on / CPU sampling only): ${slowdown.toFixed(3)}×`);
  const fast = r.unpaced;
  const rate = (c: typeof fast.alone) => gib(c) / c.faulter.wall_s;
  console.log(`  unpaced, doing nothing but fault (median runs): alone ${rate(fast.alone).toFixed(2)} GiB/s, with tail2's page faults ${rate(fast.tail2Faults).toFixed(2)} GiB/s (${fast.tail2Faults.pageFaultSamples.toLocaleString('en-US')} samples) — ${(rate(fast.alone) / rate(fast.tail2Faults)).toFixed(3)}× slower`);
}

if (wants('record')) {
  const r = await runRecordBench(Number(process.env.TAIL2_BENCH_SECONDS ?? 15));
  const run = (x: (typeof r.warm)[number]) =>
    `${(x.processCpuSeconds + x.bpfSeconds).toFixed(3)} CPU s (processes ${x.processCpuSeconds.toFixed(3)} s, of which GNU time sees ${x.timeCpuSeconds.toFixed(3)} s, + BPF ${x.bpfSeconds.toFixed(3)} s; ${x.wallSeconds.toFixed(1)} s wall)`;
  console.log(`\ntail2 record for ${r.seconds} s, every process, default unwinding, every CPU busy (${r.cpus} CPUs), every process it starts (a cgroup's CPU) + its BPF programs (${r.first.programs.join(', ')}):`);
  console.log(`  first run (unwind-table cache possibly cold): ${run(r.first)}`);
  for (const [i, x] of r.warm.entries()) console.log(`  run ${i + 2}: ${run(x)}; perf record -F 99 -a -g before it: ${r.perfCpuSeconds[i].toFixed(3)} CPU s`);
  console.log(`  median ratio tail2 record / perf record: ${r.ratio.toFixed(2)} — ${pass(r.ratio < 1)} (below perf)`);
}

if (wants('daemon')) {
  const counts = (process.env.TAIL2_BENCH_PROCESSES ?? '1000,5000').split(',').map(Number);
  // TAIL2_BENCH_PAGE_FAULTS=off: the same without the page-fault profile (the example rules watch rss_growth, so auto is on).
  const pageFaults = process.env.TAIL2_BENCH_PAGE_FAULTS === 'off' ? 'off' : 'auto';
  const rows = await runDaemonCostBench(counts, Number(process.env.TAIL2_BENCH_SECONDS ?? 30), undefined, pageFaults);
  console.log(`\ntail2d whole daemon, steady state: example rules, page faults ${pageFaults === 'off' ? 'off' : 'on (auto: a rule watches rss_growth)'}, 99 Hz, table unwinding, every CPU busy (tail2d + everything under it + its BPF programs, the task iterator's excepted: it runs in tail2d's own reads):`);
  for (const r of rows) {
    const ratio = r.percentPerCpu / r.perfPercentPerCpu;
    console.log(
      `  ${String(r.processes).padStart(5)} processes: ${r.percentPerCpu.toFixed(3)}% of one core per sampled CPU ` +
        `(process ${r.daemonCpuSeconds.toFixed(2)} s of which redis ${r.redisCpuSeconds.toFixed(2)} s, BPF ${r.bpfSeconds.toFixed(3)} s, in ${r.seconds} s; RSS ${(r.rssBytes / 1e6).toFixed(0)} MB; ${r.earlyRounds} early rounds) — ${pass(r.percentPerCpu <= 0.3)} (≤ 0.3%)`,
    );
    console.log(`        perf record -F 99 -a -g, same workload: ${r.perfPercentPerCpu.toFixed(3)}% (${r.perfCpuSeconds.toFixed(2)} s) — ratio tail2d/perf ${ratio.toFixed(2)}: ${pass(ratio < 1)} (below perf)`);
  }
}

if (selected.has('self-profile')) {
  const r = await runSelfProfileBench(1000, Number(process.env.TAIL2_BENCH_SECONDS ?? 60));
  console.log(`\ntail2d profiled by tail2 record --pid at ${r.frequency} Hz for ${r.seconds} s (1,000 processes, every CPU busy): ${r.samples} samples = ${((r.samples / r.frequency / r.seconds) * 100).toFixed(2)}% of one core`);
  console.log(`  flamegraph: ${r.svgPath}; folded: ${r.foldedPath}`);
  console.log('  most self time:');
  for (const f of r.topSelf) console.log(`    ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.name.slice(0, 110)}`);
  console.log('  most total time (below the frames every stack has):');
  for (const f of r.topTotal) console.log(`    ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.name.slice(0, 110)}`);
}

if (wants('accuracy')) {
  const r = await runAccuracyBench();
  console.log(`\naccuracy, top-10 self-time functions of the mixer fixture (perf ${r.perfSamples} samples, tail2 ${r.tail2Samples}):`);
  for (const row of r.rows) console.log(`  ${row.name.padEnd(12)} perf ${row.perfPercent.toFixed(2).padStart(6)}%   tail2 ${row.tail2Percent.toFixed(2).padStart(6)}%   Δ ${(row.tail2Percent - row.perfPercent).toFixed(2)}`);
  console.log(`  largest difference: ${r.maxDifferencePoints.toFixed(2)} points — target ≤ 2: ${pass(r.maxDifferencePoints <= 2)}`);
}

if (wants('buffer')) {
  const hostCpus = cpus().length;
  for (const cpuCount of [hostCpus, 64]) {
    const r = runBufferBenchInChild(cpuCount);
    const here = cpuCount === hostCpus;
    console.log(`\nbuffer, a full 10-minute window at 99 Hz on ${r.cpus} CPUs${here ? ' (this machine)' : ' (synthetic scale test)'}: ${r.samples.toLocaleString()} samples, ${r.uniqueStacks.toLocaleString()} unique stacks`);
    console.log(`  sample storage: ${r.sampleBytesPerSample} B/sample (+${(r.chunkSlack * 100).toFixed(2)}% unfilled in the newest chunk) — target ≤ 16: ${pass(r.sampleBytesPerSample <= 16)}`);
    console.log(`  with the stack table and process entries: ${r.totalBytesPerSample.toFixed(2)} B/sample, ${(r.bufferBytes / 1048576).toFixed(1)} MiB`);
    console.log(`  RSS of a Node process holding it: ${(r.rssBytes / 1e6).toFixed(0)} MB (the window added ${(r.rssGrowthBytes / 1e6).toFixed(0)} MB)${here ? ` — target ≤ 150 MB: ${pass(r.rssBytes <= 150e6)}` : ''}`);
  }
}

if (wants('bursts')) {
  const r = await runBurstBench();
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  // README.md, "Memory": the fixed overhead tail2d may use beyond buffer.max_memory.
  const limit = r.maxMemoryBytes + 160 * 1024 * 1024;
  console.log(`\ntail2d memory under process bursts (buffer.max_memory ${mb(r.maxMemoryBytes)}, rules tracking every process; idle RSS ${mb(r.idleRss)}):`);
  for (const p of r.phases) {
    console.log(
      `  ${p.name.padEnd(44)} RSS before ${mb(p.beforeRss)}, peak ${mb(p.peakRss)} (${(p.peakRss / r.idleRss).toFixed(2)}× idle), 10 s after ${mb(p.afterRss)}; budget ${mb(p.budgetBytes)} of ${mb(p.budgetMax)} — ` +
        `target peak ≤ max_memory + 160 MiB (${mb(limit)}): ${pass(p.peakRss <= limit)}`,
    );
  }
}

if (wants('memory')) {
  // Issue 14's targets for this 2-CPU VM.
  const idleTarget = 90e6;
  const loadedTarget = 128e6;
  const r = await runMemoryBench(Number(process.env.TAIL2_BENCH_MINUTES ?? 10), Number(process.env.TAIL2_BENCH_PROCESSES ?? 1000));
  console.log(`\ntail2d memory, example rules, 99 Hz, table unwinding (breakdown from /api/status):`);
  for (const line of formatMemoryReading('idle, settled', r.idle, idleTarget)) console.log(line);
  const loaded = `after ${r.minutes} min with every CPU busy (${r.incidents} incidents written)`;
  for (const line of formatMemoryReading(loaded, r.loaded, loadedTarget)) console.log(line);
}

if (wants('collector')) {
  for (const processes of [1000, 5000]) {
    const r = await runCollectorBench({ processes });
    const percent = (ms: number) => `${((ms / 1000) * 100).toFixed(2)}% of one core`;
    console.log(`\nmetric collectors, ${r.processes} processes and ${r.cgroups} cgroups, one round a second (per-process CPU and RSS from the ${r.source}):`);
    console.log(`  steady round: ${r.msPerRound.toFixed(1)} ms wall, ${r.cpuMsPerRound.toFixed(1)} ms CPU (${percent(r.cpuMsPerRound)}); first round ${r.firstRoundMs.toFixed(0)} ms`);
    console.log(`  same collector on /proc/PID/stat files: ${r.procMsPerRound.toFixed(1)} ms wall, ${r.procCpuMsPerRound.toFixed(1)} ms CPU (${percent(r.procCpuMsPerRound)}) — ratio iterator/proc ${(r.cpuMsPerRound / r.procCpuMsPerRound).toFixed(2)}`);
    console.log(`  baseline, only reading every /proc/PID/stat: readFileSync ${r.baselineReadFileSyncMs.toFixed(1)} ms, open+read+close ${r.baselineOpenReadCloseMs.toFixed(1)} ms`);
  }
}

if (wants('latency')) {
  const r = await runAlertLatencyBench();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  console.log(`\nproblem → on-call engineer: cpu rule on a burner (a busy core), after = ${r.afterMs / 1000} s, ${r.firings.length} firings, tail2d → its own redis-server → local Slack Web API:`);
  const rows = [
    ['condition true → rule pending', 'conditionToPendingMs'],
    ['end of after → incident.json on disk', 'afterToIncidentMs'],
    ['end of after → Slack message', 'afterToSlackMs'],
  ] as const;
  for (const [name, key] of rows) {
    const values = r.firings.map((f) => f[key]);
    const worst = Math.max(...values);
    console.log(`  ${name.padEnd(38)} ${values.map((ms) => `${ms}`).join(', ')} ms (median ${median(values)}, worst ${worst}) — target ≤ ${ALERT_LATENCY_TARGETS[key]} ms: ${pass(values.length > 0 && worst <= ALERT_LATENCY_TARGETS[key])}`);
  }
}

if (wants('notify')) {
  const r = await runNotifyBench();
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const worst = (values: number[]) => Math.max(...values);
  console.log(`\nincident stored → message received (${r.incidents} incidents; outbox → BullMQ on tail2d's own redis-server → workers → local servers):`);
  for (const [name, queued, direct] of [['Slack (PNG upload + blocks)', r.slackMs, r.directSlackMs], ['email (SMTP, inline PNG)', r.emailMs, r.directEmailMs]] as const) {
    console.log(
      `  ${name.padEnd(28)} median ${median(queued)} ms, worst ${worst(queued)} ms; the sender alone ${median(direct)} ms — ratio ${(median(queued) / Math.max(1, median(direct))).toFixed(1)}; target ≤ 2000 ms: ${pass(worst(queued) <= 2000)}`,
    );
  }
}

if (wants('store')) {
  console.log(`\n${formatStoreBench(await runStoreBench())}`);
}

if (wants('render')) {
  const r = runRenderBench();
  console.log('\nflamegraph rendering (median of 3):');
  for (const row of r.rows) {
    const at50k = row.uniqueStacks === 50_000;
    console.log(
      `  ${row.uniqueStacks.toLocaleString().padStart(6)} unique stacks: SVG ${row.svgSeconds.toFixed(2)} s (${(row.svgBytes / 1e6).toFixed(1)} MB), PNG ${row.pngSeconds.toFixed(2)} s` +
        (at50k ? ` — targets SVG ≤ 0.5 s: ${pass(row.svgSeconds <= 0.5)}; PNG ≤ 2 s: ${pass(row.pngSeconds <= 2)}` : ''),
    );
  }
}

if (wants('unwind-tables')) {
  const r = await runUnwindTableBench();
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MiB`;
  console.log('\nunwind tables (tail2-reader compiles .eh_frame/.debug_frame; median of 3, the reader already running):');
  for (const f of r.files) {
    console.log(
      `  ${f.path} (${(f.fileBytes / 1e6).toFixed(1)} MB): ${f.fdes.toLocaleString()} FDEs → ${f.rows.toLocaleString()} rows, ${mib(f.rowBytes)} (${f.noRuleRows.toLocaleString()} no-rule rows; cache file ${mib(f.cacheFileBytes)}); ` +
        `cold ${f.coldMs.toFixed(0)} ms (reader CPU ${f.coldReaderCpuMs.toFixed(0)} ms), warm from the disk cache ${f.warmMs.toFixed(1)} ms — ratio ${(f.coldMs / f.warmMs).toFixed(0)}×; within the 10 s file budget: ${pass(f.fitsBudget)}`,
    );
  }
  const h = r.host;
  console.log(
    `  a host running ${h.files} distinct binaries (/usr/bin, /usr/lib/x86_64-linux-gnu): ${h.totalRows.toLocaleString()} rows, ${mib(h.totalRowBytes)} of rows (cache files ${mib(h.totalCacheFileBytes)}); ` +
      `per file median ${h.medianRows.toLocaleString()} rows (${(h.medianRowBytes / 1024).toFixed(1)} KiB), p95 ${h.p95Rows.toLocaleString()} rows (${(h.p95RowBytes / 1024).toFixed(1)} KiB); ` +
      `largest ${h.largest.path} ${h.largest.rows.toLocaleString()} rows; ${h.noCfi} without CFI, ${h.failed} failed; built in ${h.buildSeconds.toFixed(1)} s`,
  );
}

if (wants('unwind')) {
  const r = await runUnwindBench(Number(process.env.TAIL2_BENCH_SECONDS ?? 6));
  const share = (value: number | undefined) => (value === undefined ? '    —' : value.toFixed(3));
  console.log(`\nunwinding: each workload under perf record --call-graph dwarf -F 99 and tail2 record -F 99 at the same time, ${r.seconds} s:`);
  console.log(`  ${'workload'.padEnd(22)} ${'perf dwarf: root  chain  depth'.padEnd(32)} tail2: root  chain  depth   target: tail2 root ≥ perf's − 0.01`);
  for (const row of r.workloads) {
    const { perf, tail2 } = row;
    console.log(
      `  ${row.name.padEnd(22)} ${' '.repeat(11)}${share(perf.reachRoot)}  ${share(perf.fullChain)}  ${perf.meanUserDepth.toFixed(1).padStart(5)}   ` +
        `${' '.repeat(6)}${share(tail2.reachRoot)}  ${share(tail2.fullChain)}  ${tail2.meanUserDepth.toFixed(1).padStart(5)}   ${pass(tail2.reachRoot >= perf.reachRoot - 0.01)} (${perf.samples}/${tail2.samples} samples)`,
    );
  }
  const sum = (pick: (row: (typeof r.workloads)[number]) => number) => r.workloads.reduce((total, row) => total + pick(row), 0).toFixed(2);
  console.log(
    `  CPU, whole processes over all workloads: tail2 record ${sum((row) => row.tail2RecordCpuSeconds)} s, perf record ${sum((row) => row.perfRecordCpuSeconds)} s — ratio ${r.cpuRatioToPerfRecord.toFixed(2)}: ${pass(r.cpuRatioToPerfRecord < 1)} (below perf); ` +
      `perf record + perf script (where perf unwinds) ${sum((row) => row.perfRecordCpuSeconds + row.perfScriptCpuSeconds)} s — ratio ${r.cpuRatioToPerfRecordAndScript.toFixed(2)}`,
  );
  const medianOf = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const fp = medianOf(r.bpf.filter((row) => row.mode === 'frame-pointer').map((row) => row.microsecondsPerSample));
  const tables = medianOf(r.bpf.filter((row) => row.mode === 'auto').map((row) => row.microsecondsPerSample));
  console.log(
    `  BPF time per sample (kernel.bpf_stats_enabled): median ${fp.toFixed(1)} µs with frame pointers, ${tables.toFixed(1)} µs with tables — target ≤ 10 µs with tables: ${pass(tables <= 10)} ` +
      `(a filtered-out tick: ${r.filteredRunMicroseconds.toFixed(2)} µs):`,
  );
  for (const row of r.bpf) console.log(`    ${row.name.padEnd(22)} ${row.mode.padEnd(13)} ${row.microsecondsPerSample.toFixed(1).padStart(6)} µs  (${row.samples} samples, ${row.meanUserDepth.toFixed(1)} user frames)`);
  console.log(
    `  … the same program, host-wide, a 5-frame burner on every CPU, by frequency: ${r.byFrequency.map((row) => `${row.hertz} Hz ${row.microsecondsPerSample.toFixed(1)} µs`).join(', ')} ` +
      '(closer samples find more of what the program touches still in cache and TLB)',
  );
}
