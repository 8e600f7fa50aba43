/** The parts of GET /api/status the text form reads; every part may be missing from an older daemon. */
type Bag = Record<string, unknown>;

const bag = (value: unknown): Bag | undefined => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Bag) : undefined);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const mib = (bytes: unknown): string => `${(Number(bytes) / 1048576).toFixed(1)} MiB`;
/** Text a profiled process chose (a file name): control characters shown escaped, never sent to the terminal. */
const shown = (value: unknown): string => String(value).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
});

/**
 * `tail2 status` for a person: one line per part of the daemon, the same facts as /status and
 * `--json` — sampler (and any slow-down), buffer, rules, captures, the store, notifications, the
 * daemon's own usage — followed by what is unavailable on this host and why.
 */
export function formatStatus(status: Bag): string[] {
  const sampler = bag(status.sampler) ?? {};
  const buffer = bag(status.buffer) ?? {};
  const rules = bag(status.rules) ?? {};
  const captures = bag(status.captures) ?? {};
  const lines = [
    `tail2d ${String(status.version)} on ${String(status.host)}, up ${String(status.uptime_s)} s`,
    `sampler:  ${sampler.running === false ? `STOPPED: ${String(sampler.error)}` : 'sampling'} at ${String(sampler.frequency)} Hz on ${String(sampler.cpus)} CPUs; ${String(sampler.samples)} samples, ${String(sampler.lost)} lost, ${String(sampler.dropped_in_userspace ?? 0)} dropped`,
  ];
  const backoff = bag(sampler.backoff);
  if (backoff) lines.push(`          slowed down from ${String(sampler.configured_frequency)} Hz since ${String(backoff.since)}: ${String(backoff.reason)}`);
  lines.push(
    `buffer:   ${Number(buffer.span_s).toFixed(0)} s held, ${mib(buffer.bytes)} of ${mib(buffer.max_bytes)}; ${String(buffer.evicted_early_samples)} samples evicted early`,
    `rules:    ${String(rules.count)} from ${String(rules.file)}`,
  );
  const reload = bag(rules.last_reload);
  if (reload && reload.ok === false) lines.push(`          last reload FAILED (the previous rules stay in force): ${String(reload.error)}`);
  // Degraded and lost only when there are some: those are the lines a person must not miss.
  const degraded = Number(captures.degraded) > 0 ? `, ${String(captures.degraded)} without some parts (see problems in incident.json)` : '';
  const lost = Number(captures.lost) > 0 ? `, ${String(captures.lost)} LOST (could not be written)` : '';
  lines.push(`captures: ${String(captures.written)} written${degraded}${lost}, ${list(captures.in_flight).length} in flight${captures.last_error ? `; last error: ${String(captures.last_error)}` : ''}`);
  const store = bag(status.store);
  if (store) {
    const lastError = bag(store.lastError);
    lines.push(`store:    ${String(store.incidents)} incidents, ${mib(store.bytes)} on disk${lastError ? `; last error ${String(lastError.code)}: ${String(lastError.message)}` : ''}`);
  }
  lines.push(...notificationLines(bag(status.notifications)));
  lines.push(...memoryLines(bag(status.memory)), ...symbolLines(bag(status.symbols)));
  const self = bag(status.self);
  if (self) lines.push(`self:     pid ${String(self.pid)}, ${String(self.cpu_percent_of_core)}% of a core, ${mib(self.rss_bytes)} RSS; never fires its rules on pids ${list(self.excluded_from_rules).join(', ')}`);
  for (const missing of list(bag(status.metrics)?.unavailable).map(bag)) {
    if (missing) lines.push(`unavailable: ${String(missing.metric)}${missing.scope ? ` (${String(missing.scope)})` : ''}: ${String(missing.reason)}`);
  }
  for (const rule of list(rules.unavailable).map(bag)) {
    if (rule) lines.push(`rule ${String(rule.rule)} cannot fire here: its metric ${String(rule.metric)} is unavailable (see above)`);
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

function memoryLines(memory: Bag | undefined): string[] {
  if (!memory) return [];
  const parts = Object.entries(bag(memory.parts) ?? {}).map(([name, bytes]) => `${PART_NAMES[name] ?? name} ${mib(bytes)}`);
  const evicted = Object.values(bag(memory.evicted) ?? {}).reduce<number>((sum, n) => sum + Number(n), 0);
  return [
    `memory:   ${mib(memory.bytes)} of the ${mib(memory.max_bytes)} budget (${parts.join(', ')}); ${evicted} things evicted to stay within it; V8 heap ${mib(memory.heap_used_bytes)}, RSS ${mib(memory.rss_bytes)}`,
  ];
}

function symbolLines(symbols: Bag | undefined): string[] {
  if (!symbols) return [];
  const counts = Object.entries(bag(bag(symbols.problems)?.counts) ?? {});
  const readers = list(symbols.readers).map(bag);
  const restarts = readers.reduce((n, r) => n + Number(r?.timeouts ?? 0) + Number(r?.crashes ?? 0), 0);
  const lines = [
    `symbols:  ${counts.length === 0 ? 'no file refused or given up' : counts.map(([code, n]) => `${code} ${String(n)}`).join(', ')}; ${String(symbols.quarantined ?? 0)} files set aside; tail2-reader restarted ${restarts} times`,
  ];
  for (const problem of list(bag(symbols.problems)?.recent).map(bag)) {
    if (problem) lines.push(`          ${shown(problem.file)}: ${String(problem.code)} ${shown(problem.message)}`);
  }
  return lines;
}

function notificationLines(notifications: Bag | undefined): string[] {
  if (!notifications) return [];
  if (notifications.enabled === false) return [`notify:   off (${String(notifications.reason)})`];
  const redis = bag(notifications.redis) ?? {};
  const lines = [
    `notify:   Redis ${redis.reachable ? 'reachable' : `UNREACHABLE (${String(redis.error ?? redis.start_error ?? 'no answer')})`} at ${String(redis.where)}; ${String(notifications.outbox)} in the outbox`,
  ];
  if (redis.policy_problem) lines.push(`          ${String(redis.policy_problem)}`);
  for (const target of list(notifications.targets).map(bag)) {
    if (target) lines.push(`          ${String(target.target)}: ${String(target.waiting)} waiting, ${String(target.delayed)} retrying later, ${String(target.failed)} failed`);
  }
  return lines;
}
