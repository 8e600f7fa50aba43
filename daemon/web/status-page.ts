import type { PageModel } from './page-renderer.js';
import { durationText, timeView } from './time-text.js';

/** One fact: label, value in words, and a tone the stylesheet colours (problems stand out). */
export interface StatusRow {
  label: string;
  value: string;
  tone: 'ok' | 'warn' | 'bad' | '';
}

export interface StatusTable {
  caption: string;
  headers: string[];
  rows: string[][];
  /** Shown instead of an empty table. */
  empty: string;
}

export interface StatusSection {
  id: string;
  title: string;
  rows: StatusRow[];
  tables: StatusTable[];
}

export interface StatusPageModel extends PageModel {
  sections: StatusSection[];
  /** The whole status as JSON, for anything the sections do not show. */
  raw: string;
}

/** A reader over the untyped status() object: missing parts come back as undefined, never throw. */
type Bag = Record<string, unknown>;
const bag = (value: unknown): Bag | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Bag) : undefined);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const list = (value: unknown): Bag[] => (Array.isArray(value) ? value.map(bag).filter((b): b is Bag => b !== undefined) : []);

const count = (value: unknown): string => (num(value) === undefined ? '—' : (num(value) as number).toLocaleString('en-US'));
const row = (label: string, value: string | undefined, tone: StatusRow['tone'] = ''): StatusRow => ({ label, value: value ?? '—', tone });

/**
 * `/status`, from what GET /api/status returns (Tail2Daemon.status()): sampler, buffer, metrics
 * and rules, captures, store and notification queue. Every part may be missing or null (a
 * stand-in daemon, a store that is closed, no notifiers): those read as "—" or a sentence.
 */
export function statusPage(status: unknown, nowMs: number): StatusPageModel {
  const s = bag(status) ?? {};
  const when = (value: unknown): string | undefined => {
    const t = timeView(typeof value === 'number' || typeof value === 'string' ? value : undefined, nowMs);
    return t ? `${t.utc} (${t.relative})` : undefined;
  };
  return {
    title: 'Status',
    sections: [overview(s), sampler(s), buffer(s), memory(s), symbols(s, when), metrics(s, when), captures(s), store(s, when), queue(s)],
    raw: JSON.stringify(status ?? null, null, 2),
  };
}

function overview(s: Bag): StatusSection {
  const uptime = num(s.uptime_s);
  return {
    id: 'status-daemon',
    title: 'Daemon',
    rows: [row('Version', str(s.version)), row('Host', str(s.host)), row('Up for', uptime === undefined ? undefined : durationText(uptime * 1000)), row('State directory', str(s.state_dir))],
    tables: [],
  };
}

function sampler(s: Bag): StatusSection {
  const sm = bag(s.sampler);
  if (!sm) return { id: 'status-sampler', title: 'Sampler', rows: [row('State', 'not reported')], tables: [] };
  const frequency = num(sm.frequency);
  const cpus = num(sm.cpus);
  const samples = num(sm.samples);
  const uptime = num(s.uptime_s);
  const rate = samples !== undefined && uptime ? `${Math.round(samples / uptime).toLocaleString('en-US')}/s on average since start` : undefined;
  const expected = frequency !== undefined && cpus !== undefined ? ` (expected ${(frequency * cpus).toLocaleString('en-US')}/s: ${frequency} Hz × ${cpus} CPUs)` : '';
  const lost = num(sm.lost) ?? 0;
  const dropped = num(sm.dropped_in_userspace) ?? 0;
  const failed = num(sm.failed_batches) ?? 0;
  return {
    id: 'status-sampler',
    title: 'Sampler',
    rows: [
      row('State', sm.running === false ? `stopped: ${str(sm.error) ?? 'unknown error'}` : 'sampling', sm.running === false ? 'bad' : 'ok'),
      row('Frequency', frequency === undefined ? undefined : `${frequency} Hz per CPU`),
      row('Slowed down to protect the host', backoffText(bag(sm.backoff), num(sm.configured_frequency)), bag(sm.backoff) ? 'warn' : ''),
      row('CPUs', count(sm.cpus)),
      row('Samples', count(samples)),
      row('Samples per second', rate === undefined ? undefined : rate + expected),
      row('Lost in the kernel (ring buffer full)', count(sm.lost), lost > 0 ? 'warn' : ''),
      row('Dropped in userspace', count(sm.dropped_in_userspace), dropped > 0 ? 'warn' : ''),
      row('Failed batches', count(sm.failed_batches), failed > 0 ? 'bad' : ''),
    ],
    tables: [],
  };
}

/** Why sampling runs below the configured frequency; undefined (row left out) when it does not. */
function backoffText(backoff: Bag | undefined, configured: number | undefined): string | undefined {
  if (!backoff) return undefined;
  return `${num(backoff.frequency) ?? '?'} Hz instead of ${configured ?? '?'} Hz since ${str(backoff.since) ?? '?'}: ${str(backoff.reason) ?? ''}`;
}

function buffer(s: Bag): StatusSection {
  const b = bag(s.buffer);
  if (!b) return { id: 'status-buffer', title: 'Buffer', rows: [row('State', 'not reported')], tables: [] };
  const bytes = num(b.bytes);
  const max = num(b.max_bytes);
  const span = num(b.span_s);
  const evicted = num(b.evicted_early_samples) ?? 0;
  const memory = bytes === undefined ? undefined : `${mib(bytes)}${max ? ` of ${mib(max)} (${Math.round((bytes / max) * 100)}%)` : ''}`;
  return {
    id: 'status-buffer',
    title: 'Buffer',
    rows: [
      row('History held', span === undefined ? undefined : durationText(span * 1000)),
      row('Memory', memory, max && bytes !== undefined && bytes / max > 0.9 ? 'warn' : ''),
      row('Samples', count(b.samples)),
      row('Unique stacks', count(b.stacks)),
      row('Processes', count(b.processes)),
      row('Expired (older than buffer.retain)', count(b.expired_samples)),
      row('Evicted early (buffer.max_memory reached)', count(b.evicted_early_samples), evicted > 0 ? 'warn' : ''),
      row('Dropped', count(b.dropped_samples), (num(b.dropped_samples) ?? 0) > 0 ? 'warn' : ''),
    ],
    tables: [],
  };
}

const MEMORY_PARTS: Record<string, string> = {
  samples: 'Samples, stacks, thread names',
  processes: 'Process snapshots',
  metric_history: 'Metric history',
  rule_instances: 'Rule instances',
  process_metrics: 'Collectors (per live process)',
};

function memory(s: Bag): StatusSection {
  const m = bag(s.memory);
  if (!m) return { id: 'status-memory', title: 'Memory', rows: [row('State', 'not reported')], tables: [] };
  const bytes = num(m.bytes);
  const max = num(m.max_bytes);
  const evicted = bag(m.evicted) ?? {};
  return {
    id: 'status-memory',
    title: 'Memory',
    rows: [
      row('Budget (buffer.max_memory)', bytes === undefined ? undefined : `${mib(bytes)}${max ? ` of ${mib(max)}` : ''}`, max && bytes !== undefined && bytes > max ? 'warn' : ''),
      row('V8 heap in use', num(m.heap_used_bytes) === undefined ? undefined : mib(num(m.heap_used_bytes) as number)),
      row('Resident (RSS)', num(m.rss_bytes) === undefined ? undefined : mib(num(m.rss_bytes) as number)),
    ],
    tables: [
      {
        caption: 'By part',
        headers: ['Part', 'Held', 'Given up to stay within the budget'],
        rows: Object.entries(bag(m.parts) ?? {}).map(([name, held]) => [MEMORY_PARTS[name] ?? name, num(held) === undefined ? '—' : mib(num(held) as number), count(evicted[name])]),
        empty: 'Nothing counted yet.',
      },
    ],
  };
}

function symbols(s: Bag, when: (value: unknown) => string | undefined): StatusSection {
  const y = bag(s.symbols);
  if (!y) return { id: 'status-symbols', title: 'Symbols', rows: [row('State', 'not reported')], tables: [] };
  const problems = bag(y.problems) ?? {};
  const counts = Object.entries(bag(problems.counts) ?? {});
  const readers = list(y.readers);
  const restarts = readers.reduce((n, r) => n + (num(r.timeouts) ?? 0) + (num(r.crashes) ?? 0), 0);
  const snapshots = bag(y.snapshots) ?? {};
  return {
    id: 'status-symbols',
    title: 'Symbols',
    rows: [
      row('Files refused or given up', counts.length === 0 ? 'none' : counts.map(([code, n]) => `${code} ${count(n)}`).join(', '), counts.length > 0 ? 'warn' : ''),
      row('Set aside (overran their budget or crashed the reader)', count(y.quarantined), (num(y.quarantined) ?? 0) > 0 ? 'warn' : ''),
      row('tail2-reader restarts', count(restarts), restarts > 0 ? 'warn' : ''),
      row('Process snapshots', `${count(snapshots.taken)} taken, ${count(snapshots.gone)} gone before read, ${count(snapshots.skipped)} skipped (too many at once)`),
    ],
    tables: [
      {
        caption: 'Latest problems',
        headers: ['When', 'File', 'Problem'],
        rows: list(problems.recent).map((p) => [when(p.at) ?? '—', str(p.file) ?? '?', `${str(p.code) ?? '?'}: ${str(p.message) ?? ''}`]),
        empty: 'No file was refused or given up.',
      },
    ],
  };
}

function metrics(s: Bag, when: (value: unknown) => string | undefined): StatusSection {
  const m = bag(s.metrics) ?? {};
  const r = bag(s.rules) ?? {};
  const reload = bag(r.last_reload);
  const cost = num(m.cost_ms);
  return {
    id: 'status-metrics',
    title: 'Metrics and rules',
    rows: [
      row('Last collection', when(m.last_collect)),
      row('Collection cost', cost === undefined ? undefined : `${cost.toFixed(1)} ms`),
      row('Rules', count(r.count)),
      row('Rules file', str(r.file)),
      row(
        'Last reload',
        reload ? `${when(reload.atMs) ?? '—'}: ${reload.ok === false ? `failed, previous rules kept: ${str(reload.error) ?? ''}` : 'ok'}` : 'none since start',
        reload?.ok === false ? 'bad' : '',
      ),
    ],
    tables: [
      {
        caption: 'Metrics this host cannot provide',
        headers: ['Metric', 'For', 'Why'],
        rows: list(m.unavailable).map((u) => [str(u.metric) ?? '?', str(u.scope) ?? 'every instance', str(u.reason) ?? '']),
        empty: 'Every metric is available.',
      },
      {
        caption: 'Rules without data',
        headers: ['Rule', 'Metric', 'Why'],
        rows: list(r.unavailable).map((u) => [str(u.rule) ?? '?', str(u.metric) ?? '?', str(u.reason) ?? '']),
        empty: 'Every rule has data.',
      },
    ],
  };
}

function captures(s: Bag): StatusSection {
  const c = bag(s.captures) ?? {};
  const error = str(c.last_error);
  return {
    id: 'status-captures',
    title: 'Captures',
    rows: [row('In flight', count(c.in_flight)), row('Written since start', count(c.written)), row('Last error', error ?? 'none', error ? 'bad' : '')],
    tables: [],
  };
}

function store(s: Bag, when: (value: unknown) => string | undefined): StatusSection {
  const st = bag(s.store);
  if (!st) return { id: 'status-store', title: 'Incident store', rows: [row('State', 'closed or not reported', 'warn')], tables: [] };
  const error = bag(st.lastError);
  const missing = num(st.missing) ?? 0;
  return {
    id: 'status-store',
    title: 'Incident store',
    rows: [
      row('Incidents', count(st.incidents)),
      row('Missing (directory removed by hand)', count(st.missing), missing > 0 ? 'warn' : ''),
      row('Disk used', num(st.bytes) === undefined ? undefined : mib(num(st.bytes) as number)),
      row('Directory', str(st.incidentsDir)),
      row('Last error', error ? `${when(error.atMs) ?? ''} ${str(error.code) ?? ''}: ${str(error.message) ?? ''}`.trim() : 'none', error ? 'bad' : ''),
    ],
    tables: [],
  };
}

function queue(s: Bag): StatusSection {
  const n = bag(s.notifications);
  if (!n) return { id: 'status-queue', title: 'Notifications', rows: [row('State', 'not reported')], tables: [] };
  if (n.enabled === false) return { id: 'status-queue', title: 'Notifications', rows: [row('State', `off: ${str(n.reason) ?? 'no notifiers'}`)], tables: [] };
  const redis = bag(n.redis) ?? {};
  const managed = bag(redis.managed);
  const lastExit = bag(managed?.lastExit);
  const policyProblem = str(redis.policy_problem);
  const dispatchError = str(n.last_dispatch_error);
  const rows = [
    row('Redis', redis.reachable === true ? 'reachable' : `unreachable: ${str(redis.error) ?? 'no answer'}`, redis.reachable === true ? 'ok' : 'bad'),
    row('Where', str(redis.where)),
    row('Eviction policy', `${str(redis.maxmemory_policy) ?? 'unknown'}${policyProblem ? `: ${policyProblem}` : ''}`, policyProblem ? 'bad' : ''),
    row('Outbox (not yet delivered or failed)', count(n.outbox)),
    row('Last dispatch error', dispatchError ?? 'none', dispatchError ? 'warn' : ''),
  ];
  if (managed) {
    rows.push(row('tail2d’s redis-server', managed.running === true ? `running, pid ${count(managed.pid)}` : 'down', managed.running === true ? 'ok' : 'bad'));
    rows.push(row('Restarts', count(managed.restarts), (num(managed.restarts) ?? 0) > 0 ? 'warn' : ''));
    if (lastExit) rows.push(row('Last exit', `code ${String(lastExit.code ?? '—')}, signal ${String(lastExit.signal ?? '—')}`, 'warn'));
  }
  const startError = str(redis.start_error);
  if (startError) rows.push(row('Start error', startError, 'bad'));
  return {
    id: 'status-queue',
    title: 'Notifications',
    rows,
    tables: [
      {
        caption: 'Per notifier',
        headers: ['Target', 'Waiting', 'Delayed (retrying)', 'Active', 'Failed', 'Completed'],
        rows: list(n.targets).map((t) => [str(t.target) ?? '?', count(t.waiting), count(t.delayed), count(t.active), count(t.failed), count(t.completed)]),
        empty: 'No notifiers.',
      },
    ],
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;
}
