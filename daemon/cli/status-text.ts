import { copySizesText } from '../model/copy-sizes.js';
import type { DaemonStatus, MemoryStatus, SymbolsStatus } from '../model/daemon-status.js';
import { terminalText } from '../model/terminal-text.js';

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
/** Text a profiled process chose (a file name): control characters shown escaped, never sent to the terminal. */
const shown = terminalText;

/**
 * `tail2 status` for a person: one line per part of the daemon, the same facts as /status and
 * `--json` — sampler (and any slow-down), buffer, rules, captures, the store, notifications, the
 * daemon's own usage — followed by what is unavailable on this host and why.
 */
export function formatStatus(status: DaemonStatus): string[] {
  const { sampler, buffer, rules, captures } = status;
  const lines = [
    `tail2d ${status.version} on ${status.host}, up ${status.uptime_s} s`,
    `sampler:  ${sampler.running ? 'sampling' : `STOPPED: ${sampler.error}`} at ${sampler.frequency} Hz on ${sampler.cpus} CPUs; ${sampler.samples} samples, ${sampler.lost} lost, ${sampler.dropped_in_userspace} dropped${sampler.stack_errors.kernel + sampler.stack_errors.user > 0 ? `; stacks not readable: ${sampler.stack_errors.user} user, ${sampler.stack_errors.kernel} kernel` : ''}`,
  ];
  if (sampler.backoff) lines.push(`          slowed down from ${sampler.configured_frequency} Hz since ${sampler.backoff.since}: ${sampler.backoff.reason}`);
  const faults = sampler.page_faults;
  lines.push(`faults:   page-fault profile ${faults.on ? `on, a sample per ${faults.period_faults} faults, ${faults.samples} samples` : 'off'}: ${faults.error ? `${faults.reason}: ${faults.error}` : faults.reason}`);
  lines.push(...probeLines(status.probes));
  const unwinding = status.unwinding;
  if (unwinding.mode === 'auto') {
    const w = unwinding.walks;
    lines.push(
      `unwind:   tables for ${unwinding.processes.with_tables} processes and ${unwinding.files.with_tables} files, ${mib(unwinding.map_bytes)} of kernel memory; ` +
        `${unwinding.tables.built} compiled, ${unwinding.tables.from_disk} from the disk cache; ` +
        `walks: ${w.with_tables} with tables, ${w.without_tables} frame pointers only (process not learned yet), ${w.frame_pointer} partly by frame pointer, ${w.truncated} truncated, ${w.stopped} stopped short`,
    );
    if (unwinding.files.without_room > 0 || unwinding.processes.evicted > 0) {
      lines.push(`          table memory FULL: ${unwinding.files.without_room} files walked by frame pointer, ${unwinding.processes.evicted} processes evicted (raise sampling.unwind_memory)`);
    }
  } else {
    lines.push('unwind:   frame pointers alone (sampling.unwind: frame-pointer)');
  }
  lines.push(
    `buffer:   ${buffer.span_s.toFixed(0)} s held, ${mib(buffer.bytes)} of ${mib(buffer.max_bytes)}; ${buffer.evicted_early_samples} samples evicted early`,
    `rules:    ${rules.count} from ${rules.file}`,
  );
  const reload = rules.last_reload;
  if (reload && !reload.ok) lines.push(`          last reload FAILED (the previous rules stay in force): ${reload.error}`);
  // Degraded and lost only when there are some: those are the lines a person must not miss.
  const degraded = captures.degraded > 0 ? `, ${captures.degraded} without some parts (see problems in incident.json)` : '';
  const lost = captures.lost > 0 ? `, ${captures.lost} LOST (could not be written)` : '';
  lines.push(`captures: ${captures.written} written${degraded}${lost}, ${captures.in_flight.length} in flight${captures.last_error ? `; last error: ${captures.last_error}` : ''}`);
  const { store } = status;
  if (store) {
    const lastError = store.last_error;
    lines.push(`store:    ${store.incidents} incidents, ${mib(store.bytes)} on disk${lastError ? `; last error ${lastError.code}: ${lastError.message}` : ''}`);
  }
  lines.push(...notificationLines(status.notifications));
  lines.push(...memoryLines(status.memory), ...symbolLines(status.symbols));
  const { self } = status;
  lines.push(`self:     pid ${self.pid}, ${self.cpu_percent_of_core}% of a core, ${mib(self.rss_bytes)} RSS; never fires its rules on pids ${self.excluded_from_rules.join(', ')}`);
  const { metrics } = status;
  const source = metrics.process_source === 'task-iterator' ? 'BPF task iterator' : `/proc/PID/stat${metrics.process_source_reason ? ` (${metrics.process_source_reason})` : ''}`;
  lines.push(`metrics:  ${metrics.processes} processes, ${metrics.cgroups} cgroups, last round ${metrics.cost_ms.toFixed(1)} ms, ${metrics.early_rounds} rounds run early for cpu rules; per-process CPU and RSS from the ${source}`);
  for (const missing of status.metrics.unavailable) {
    lines.push(`unavailable: ${missing.metric}${missing.scope ? ` (${missing.scope})` : ''}: ${missing.reason}`);
  }
  for (const rule of rules.unavailable) {
    lines.push(`rule ${rule.rule} cannot fire here: its metric ${rule.metric} is unavailable (see above)`);
  }
  return lines;
}

const PART_NAMES: Record<string, string> = {
  samples: 'samples',
  processes: 'processes',
  metric_history: 'metric history',
  rule_instances: 'rule instances',
  process_metrics: 'collectors',
};

function memoryLines(memory: MemoryStatus): string[] {
  const parts = Object.entries(memory.parts).map(([name, bytes]) => `${PART_NAMES[name] ?? name} ${mib(bytes)}`);
  const evicted = Object.values(memory.evicted).reduce((sum, n) => sum + n, 0);
  const { rss, v8_heap: heap, held, ...breakdown } = memory.breakdown;
  return [
    `memory:   ${mib(memory.bytes)} of the ${mib(memory.max_bytes)} budget (${parts.join(', ')}); ${evicted} things evicted to stay within it; V8 heap ${mib(memory.heap_used_bytes)}, RSS ${mib(memory.rss_bytes)}`,
    `          RSS ${mib(breakdown.rss_bytes)}: V8 heap ${mib(rss.v8_heap_bytes)} (${mib(heap.used_bytes)} used of ${mib(heap.total_bytes)}), array buffers ${mib(rss.array_buffers_bytes)}, ` +
      `other external ${mib(rss.external_bytes)}, BPF maps ${mib(rss.bpf_maps_bytes)}, code and libraries ${mib(rss.code_bytes)}, not accounted ${mib(rss.unaccounted_bytes)}`,
    `          held: samples ${mib(held.samples_bytes)}, stacks ${mib(held.stacks_bytes)}, processes ${mib(held.processes_bytes)}, metric history ${mib(held.metric_history_bytes)}, ` +
      `rule instances ${mib(held.rule_instances_bytes)}, collectors ${mib(held.collectors_bytes)}, unwind tables ${mib(held.unwind_tables_bytes)}; ` +
      `symbol caches in tail2-reader ${mib(breakdown.symbol_readers_rss_bytes)} (their own RSS)`,
  ];
}

function symbolLines(symbols: SymbolsStatus): string[] {
  const counts = Object.entries(symbols.problems.counts);
  const restarts = symbols.readers.reduce((n, r) => n + r.timeouts + r.crashes, 0);
  const lines = [
    `symbols:  ${counts.length === 0 ? 'no file refused or given up' : counts.map(([code, n]) => `${code} ${n}`).join(', ')}; ${symbols.quarantined} files set aside; tail2-reader restarted ${restarts} times`,
  ];
  for (const problem of symbols.problems.recent) lines.push(`          ${shown(problem.file)}: ${problem.code} ${shown(problem.message)}`);
  return lines;
}

function notificationLines(notifications: DaemonStatus['notifications']): string[] {
  if ('enabled' in notifications) return [`notify:   off (${notifications.reason})`];
  const { redis } = notifications;
  const lines = [
    `notify:   Redis ${redis.reachable ? 'reachable' : `UNREACHABLE (${redis.error ?? redis.start_error ?? 'no answer'})`} at ${redis.where}; ${notifications.outbox} in the outbox`,
  ];
  if (redis.policy_problem) lines.push(`          ${redis.policy_problem}`);
  for (const target of notifications.targets) lines.push(`          ${target.target}: ${target.waiting} waiting, ${target.delayed} retrying later, ${target.failed} failed`);
  return lines;
}

/** The uprobe-based profiles: what is probed, what it holds, what could not be. */
function probeLines(probes: DaemonStatus['probes']): string[] {
  const { malloc, memcpy } = probes.profiles;
  const count = (kind: string) => probes.processes.filter((p) => p.kind === kind).length;
  const probed = (kind: string) => `${count(kind)} process${count(kind) === 1 ? '' : 'es'}`;
  const held = probes.outstanding;
  const lines = [
    malloc.available
      ? `probes:   malloc in ${probed('malloc')}; ${held.allocations} sampled allocations outstanding (~${mib(held.bytes)}), a sample per ${mib(malloc.mean_bytes)} allocated; ${probes.kernel.untracked} untracked`
      : `probes:   malloc unavailable: ${shown(malloc.reason ?? '')}`,
    memcpy.available
      ? `          memcpy in ${probed('memcpy')}; ${probes.kernel.copy_samples} copies sampled, a sample per ${mib(memcpy.mean_bytes)} copied`
      : `          memcpy unavailable: ${shown(memcpy.reason ?? '')}`,
  ];
  for (const p of probes.processes) {
    const cost = p.calls_per_second === null || p.overhead === null ? '' : `; ${p.calls_per_second.toLocaleString('en-US')} calls/s, ~${(p.overhead * 100).toFixed(1)}% of its CPU (at most ${(probes.max_overhead * 100).toFixed(0)}%)`;
    lines.push(`          pid ${p.pid} (${p.kind}): ${p.functions.join(', ')} in ${shown(p.file)} until ${p.until} (${shown(p.reason)})${cost}`);
    if (p.copy_sizes && p.copy_sizes.length > 0) lines.push(`            copies by size: ${copySizesText(p.copy_sizes.map((b) => ({ ...b, to: b.to ?? Infinity })))}`);
  }
  for (const f of probes.failures.slice(-3)) lines.push(`          ${f.at}: ${shown(f.message)}`);
  return lines;
}
