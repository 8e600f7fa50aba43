import type { BufferStatus, CapturesStatus, DaemonStatus, MemoryStatus, SamplerStatus, SymbolsStatus, UnwindingStatus } from '../model/daemon-status.js';
import type { StoreStatus } from '../model/store-status.js';
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

const count = (value: number | undefined): string => (value === undefined ? '—' : value.toLocaleString('en-US'));
const row = (label: string, value: string | undefined, tone: StatusRow['tone'] = ''): StatusRow => ({ label, value: value || '—', tone });

/**
 * `/status`, from what GET /api/status returns ({@link DaemonStatus}): the daemon, sampler,
 * buffer, memory, symbols, metrics and rules, captures, the store and the notification queue.
 * A store that is closed and notifications that are off read as a sentence.
 */
export function statusPage(status: DaemonStatus, nowMs: number): StatusPageModel {
  const when = (time: string | number | null): string | undefined => {
    const t = timeView(time, nowMs);
    return t ? `${t.utc} (${t.relative})` : undefined;
  };
  return {
    title: 'Status',
    sections: [overview(status), sampler(status), unwinding(status.unwinding), buffer(status.buffer), memory(status.memory), symbols(status.symbols, when), metrics(status, when), captures(status.captures), store(status.store, when), queue(status.notifications)],
    raw: JSON.stringify(status, null, 2),
  };
}

type When = (time: string | number | null) => string | undefined;

function overview(s: DaemonStatus): StatusSection {
  return {
    id: 'status-daemon',
    title: 'Daemon',
    rows: [row('Version', s.version), row('Host', s.host), row('Up for', durationText(s.uptime_s * 1000)), row('State directory', s.state_dir)],
    tables: [],
  };
}

function sampler(s: DaemonStatus): StatusSection {
  const sm = s.sampler;
  const rate = s.uptime_s > 0 ? `${Math.round(sm.samples / s.uptime_s).toLocaleString('en-US')}/s on average since start` : undefined;
  const expected = ` (expected ${(sm.frequency * sm.cpus).toLocaleString('en-US')}/s: ${sm.frequency} Hz × ${sm.cpus} CPUs)`;
  return {
    id: 'status-sampler',
    title: 'Sampler',
    rows: [
      row('State', sm.running ? 'sampling' : `stopped: ${sm.error || 'unknown error'}`, sm.running ? 'ok' : 'bad'),
      row('Frequency', `${sm.frequency} Hz per CPU`),
      row('Slowed down to protect the host', backoffText(sm), sm.backoff ? 'warn' : ''),
      row('CPUs', count(sm.cpus)),
      row('Samples', count(sm.samples)),
      row('Samples per second', rate === undefined ? undefined : rate + expected),
      row('Lost in the kernel (ring buffer full)', count(sm.lost), sm.lost > 0 ? 'warn' : ''),
      row('Dropped in userspace', count(sm.dropped_in_userspace), sm.dropped_in_userspace > 0 ? 'warn' : ''),
      row('Failed batches', count(sm.failed_batches), sm.failed_batches > 0 ? 'bad' : ''),
      row('Stacks the kernel could not read (user, kernel)', `${count(sm.stack_errors.user)}, ${count(sm.stack_errors.kernel)}`, sm.stack_errors.user + sm.stack_errors.kernel > 0 ? 'warn' : ''),
      row('Page-fault profile', pageFaultText(sm.page_faults), sm.page_faults.error ? 'bad' : ''),
    ],
    tables: [],
  };
}

function unwinding(u: UnwindingStatus): StatusSection {
  const tables = u.mode === 'auto';
  const walks = u.walks.with_tables + u.walks.without_tables;
  const share = (n: number) => (walks > 0 ? ` (${((n / walks) * 100).toFixed(1)}%)` : '');
  return {
    id: 'status-unwinding',
    title: 'Unwinding',
    rows: [
      row('User stacks walked with', tables ? 'unwind tables (.eh_frame), frame pointers where a file has none' : 'frame pointers alone (sampling.unwind: frame-pointer)'),
      ...(tables
        ? [
            row('Table memory (kernel)', `${mib(u.map_bytes)}: ${count(u.rows.used)} of ${count(u.rows.capacity)} rows, ${count(u.mappings.used)} of ${count(u.mappings.capacity)} mappings`),
            row('Processes with tables', `${count(u.processes.with_tables)} of ${count(u.processes.capacity)}; ${count(u.processes.learned)} learned, ${count(u.processes.refreshed)} read again, ${count(u.processes.queued)} waiting`),
            row('Processes not learned (gone, unreadable), evicted', `${count(u.processes.failed)}, ${count(u.processes.evicted)}`, u.processes.evicted > 0 ? 'warn' : ''),
            row('Files with tables', `${count(u.files.with_tables)} (${count(u.files.unused)} mapped by no process now)`),
            row('Tables compiled, from the disk cache, shared', `${count(u.tables.built)}, ${count(u.tables.from_disk)}, ${count(u.tables.shared)}`),
            row('Disk cache', `${count(u.tables.files_on_disk)} tables, ${mib(u.tables.bytes_on_disk)} of ${mib(u.tables.max_bytes_on_disk)}`, u.tables.corrupt_on_disk + u.tables.disk_errors > 0 ? 'warn' : ''),
            row('Files without CFI, without room, evicted, unreadable', `${count(u.files.without_cfi)}, ${count(u.files.without_room)}, ${count(u.files.evicted)}, ${count(u.files.errors)}`, u.files.without_room > 0 ? 'warn' : ''),
            row('Walks with tables', `${count(u.walks.with_tables)}${share(u.walks.with_tables)}`),
            row('Walks of processes without tables yet (frame pointers)', `${count(u.walks.without_tables)}${share(u.walks.without_tables)}`),
            row('Walks that stepped by frame pointer somewhere', count(u.walks.frame_pointer)),
            row('Walks truncated at 255 frames, stopped short of a root', `${count(u.walks.truncated)}, ${count(u.walks.stopped)}`, u.walks.truncated + u.walks.stopped > 0 ? 'warn' : ''),
          ]
        : []),
    ],
    tables: [],
  };
}

/** Whether page faults are sampled (and how often), and why. */
function pageFaultText(pf: SamplerStatus['page_faults']): string {
  const state = pf.on ? `on, a sample per ${count(pf.period_faults)} faults; ${count(pf.samples)} samples` : 'off';
  return `${state} — ${pf.error ? `${pf.reason}: ${pf.error}` : pf.reason}`;
}

/** Why sampling runs below the configured frequency; undefined ("—") when it does not. */
function backoffText(sm: SamplerStatus): string | undefined {
  if (!sm.backoff) return undefined;
  return `${sm.backoff.frequency} Hz instead of ${sm.configured_frequency} Hz since ${sm.backoff.since}: ${sm.backoff.reason}`;
}

function buffer(b: BufferStatus): StatusSection {
  const memory = `${mib(b.bytes)}${b.max_bytes ? ` of ${mib(b.max_bytes)} (${Math.round((b.bytes / b.max_bytes) * 100)}%)` : ''}`;
  return {
    id: 'status-buffer',
    title: 'Buffer',
    rows: [
      row('History held', durationText(b.span_s * 1000)),
      row('Memory', memory, b.max_bytes && b.bytes / b.max_bytes > 0.9 ? 'warn' : ''),
      row('Samples', count(b.samples)),
      row('Unique stacks', count(b.stacks)),
      row('Processes', count(b.processes)),
      row('Expired (older than buffer.retain)', count(b.expired_samples)),
      row('Evicted early (buffer.max_memory reached)', count(b.evicted_early_samples), b.evicted_early_samples > 0 ? 'warn' : ''),
      row('Dropped', count(b.dropped_samples), b.dropped_samples > 0 ? 'warn' : ''),
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

function memory(m: MemoryStatus): StatusSection {
  return {
    id: 'status-memory',
    title: 'Memory',
    rows: [
      row('Budget (buffer.max_memory)', `${mib(m.bytes)}${m.max_bytes ? ` of ${mib(m.max_bytes)}` : ''}`, m.max_bytes && m.bytes > m.max_bytes ? 'warn' : ''),
      row('V8 heap in use', mib(m.heap_used_bytes)),
      row('Resident (RSS)', mib(m.rss_bytes)),
    ],
    tables: [
      {
        caption: 'By part',
        headers: ['Part', 'Held', 'Given up to stay within the budget'],
        rows: Object.entries(m.parts).map(([name, held]) => [MEMORY_PARTS[name] ?? name, mib(held), count(m.evicted[name])]),
        empty: 'Nothing counted yet.',
      },
      residentTable(m.breakdown),
      {
        caption: 'Held by tail2d’s parts (within the V8 heap and array buffers)',
        headers: ['Part', 'Held'],
        rows: [
          ['Samples', mib(m.breakdown.held.samples_bytes)],
          ['Stacks and thread names', mib(m.breakdown.held.stacks_bytes)],
          ['Process snapshots', mib(m.breakdown.held.processes_bytes)],
          ['Metric history', mib(m.breakdown.held.metric_history_bytes)],
          ['Rule instances', mib(m.breakdown.held.rule_instances_bytes)],
          ['Collectors (per live process)', mib(m.breakdown.held.collectors_bytes)],
          ['Unwind tables in memory', mib(m.breakdown.held.unwind_tables_bytes)],
          ['Symbol caches (tail2-reader processes, their own RSS)', mib(m.breakdown.symbol_readers_rss_bytes)],
        ],
        empty: 'Nothing held yet.',
      },
    ],
  };
}

/** Shares of the RSS that sum to it, each with its share in percent. */
function residentTable(b: MemoryStatus['breakdown']): StatusTable {
  const share = (bytes: number) => (b.rss_bytes > 0 ? `${Math.round((bytes / b.rss_bytes) * 100)}%` : '');
  const shares: Array<[string, number]> = [
    [`V8 heap (${mib(b.v8_heap.used_bytes)} used of ${mib(b.v8_heap.total_bytes)})`, b.rss.v8_heap_bytes],
    ['Array buffers', b.rss.array_buffers_bytes],
    ['Other external memory', b.rss.external_bytes],
    ['BPF maps (ring buffer, unwind maps)', b.rss.bpf_maps_bytes],
    ['Code and libraries (files mapped)', b.rss.code_bytes],
    ['Not accounted (native allocations, stacks, freed memory kept)', b.rss.unaccounted_bytes],
  ];
  return {
    caption: `Where the RSS goes (${mib(b.rss_bytes)})`,
    headers: ['Share', 'Resident', 'Of the RSS'],
    rows: shares.map(([name, bytes]) => [name, mib(bytes), share(bytes)]),
    empty: 'Not read.',
  };
}

function symbols(y: SymbolsStatus, when: When): StatusSection {
  const counts = Object.entries(y.problems.counts);
  const restarts = y.readers.reduce((n, r) => n + r.timeouts + r.crashes, 0);
  const { snapshots } = y;
  return {
    id: 'status-symbols',
    title: 'Symbols',
    rows: [
      row('Files refused or given up', counts.length === 0 ? 'none' : counts.map(([code, n]) => `${code} ${count(n)}`).join(', '), counts.length > 0 ? 'warn' : ''),
      row('Set aside (overran their budget or crashed the reader)', count(y.quarantined), y.quarantined > 0 ? 'warn' : ''),
      row('tail2-reader restarts', count(restarts), restarts > 0 ? 'warn' : ''),
      row('Process snapshots', `${count(snapshots.taken)} taken, ${count(snapshots.gone)} gone before read, ${count(snapshots.skipped)} skipped (too many at once)`),
    ],
    tables: [
      {
        caption: 'Latest problems',
        headers: ['When', 'File', 'Problem'],
        rows: y.problems.recent.map((p) => [when(p.at) ?? '—', p.file || '?', `${p.code || '?'}: ${p.message}`]),
        empty: 'No file was refused or given up.',
      },
    ],
  };
}

function metrics(s: DaemonStatus, when: When): StatusSection {
  const m = s.metrics;
  const r = s.rules;
  const reload = r.last_reload;
  return {
    id: 'status-metrics',
    title: 'Metrics and rules',
    rows: [
      row('Last collection', when(m.last_collect)),
      row('Collection cost', `${m.cost_ms.toFixed(1)} ms`),
      row('Early rounds', `${count(m.early_rounds)} (the samples showed a rise towards a cpu rule)`),
      row('Rules', count(r.count)),
      row('Rules file', r.file),
      row(
        'Last reload',
        reload ? `${when(reload.at_ms) ?? '—'}: ${reload.ok ? 'ok' : `failed, previous rules kept: ${reload.error ?? ''}`}` : 'none since start',
        reload?.ok === false ? 'bad' : '',
      ),
    ],
    tables: [
      {
        caption: 'Metrics this host cannot provide',
        headers: ['Metric', 'For', 'Why'],
        rows: m.unavailable.map((u) => [u.metric, u.scope ?? 'every instance', u.reason]),
        empty: 'Every metric is available.',
      },
      {
        caption: 'Rules without data',
        headers: ['Rule', 'Metric', 'Why'],
        rows: r.unavailable.map((u) => [u.rule, u.metric, u.reason]),
        empty: 'Every rule has data.',
      },
    ],
  };
}

function captures(c: CapturesStatus): StatusSection {
  return {
    id: 'status-captures',
    title: 'Captures',
    rows: [row('In flight', count(c.in_flight.length)), row('Written since start', count(c.written)), row('Last error', c.last_error ?? 'none', c.last_error ? 'bad' : '')],
    tables: [],
  };
}

function store(st: StoreStatus | null, when: When): StatusSection {
  if (!st) return { id: 'status-store', title: 'Incident store', rows: [row('State', 'closed or not reported', 'warn')], tables: [] };
  const error = st.last_error;
  return {
    id: 'status-store',
    title: 'Incident store',
    rows: [
      row('Incidents', count(st.incidents)),
      row('Missing (directory removed by hand)', count(st.missing), st.missing > 0 ? 'warn' : ''),
      row('Disk used', mib(st.bytes)),
      row('Directory', st.incidents_dir),
      row('Last error', error ? `${when(error.at_ms) ?? ''} ${error.code}: ${error.message}`.trim() : 'none', error ? 'bad' : ''),
    ],
    tables: [],
  };
}

function queue(n: DaemonStatus['notifications']): StatusSection {
  if ('enabled' in n) return { id: 'status-queue', title: 'Notifications', rows: [row('State', `off: ${n.reason || 'no notifiers'}`)], tables: [] };
  const { redis } = n;
  const { managed } = redis;
  const lastExit = managed?.last_exit;
  const rows = [
    row('Redis', redis.reachable ? 'reachable' : `unreachable: ${redis.error || 'no answer'}`, redis.reachable ? 'ok' : 'bad'),
    row('Where', redis.where),
    row('Eviction policy', `${redis.maxmemory_policy || 'unknown'}${redis.policy_problem ? `: ${redis.policy_problem}` : ''}`, redis.policy_problem ? 'bad' : ''),
    row('Outbox (not yet delivered or failed)', count(n.outbox)),
    row('Last dispatch error', n.last_dispatch_error ?? 'none', n.last_dispatch_error ? 'warn' : ''),
  ];
  if (managed) {
    rows.push(row('tail2d’s redis-server', managed.running ? `running, pid ${count(managed.pid ?? undefined)}` : 'down', managed.running ? 'ok' : 'bad'));
    rows.push(row('Restarts', count(managed.restarts), managed.restarts > 0 ? 'warn' : ''));
    if (lastExit) rows.push(row('Last exit', `code ${lastExit.code ?? '—'}, signal ${lastExit.signal ?? '—'}`, 'warn'));
  }
  if (redis.start_error) rows.push(row('Start error', redis.start_error, 'bad'));
  return {
    id: 'status-queue',
    title: 'Notifications',
    rows,
    tables: [
      {
        caption: 'Per notifier',
        headers: ['Target', 'Waiting', 'Delayed (retrying)', 'Active', 'Failed', 'Completed'],
        rows: n.targets.map((t) => [t.target || '?', count(t.waiting), count(t.delayed), count(t.active), count(t.failed), count(t.completed)]),
        empty: 'No notifiers.',
      },
    ],
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toLocaleString('en-US', { maximumFractionDigits: 1 })} MiB`;
}
