import { z } from 'zod';
import { metricNameSchema } from './metrics.js';
import { PAGE_FAULT_MODES } from './page-fault-profile.js';
import { notificationsOffSchema, notificationsStatusSchema } from './notifications-status.js';
import { storeStatusSchema } from './store-status.js';
import { UNWIND_MODES, unwindTablesStatusSchema } from './unwind-table.js';

/**
 * What GET /api/status returns (docs/api.md, field by field), what `/status` and `tail2 status`
 * render: one type, snake_case throughout. Counts are since the daemon started; times are ISO
 * text or wall-clock ms since the epoch where the field name ends in `_ms`.
 */

/** Sampling runs below `sampling.frequency` to keep tail2d under `sampling.max_cpu`. */
export const samplerBackoffSchema = z.object({
  /** The frequency sampling runs at now (Hz per CPU). */
  frequency: z.number(),
  /** ISO time of the last change. */
  since: z.string(),
  reason: z.string(),
});

export const samplerStatusSchema = z.object({
  /** False once sampling stopped on an error (the watchdog then stops being fed). */
  running: z.boolean(),
  /** Why sampling stopped; null while it runs. */
  error: z.string().nullable(),
  /** Samples per second per CPU now. */
  frequency: z.number(),
  /** `sampling.frequency`. */
  configured_frequency: z.number(),
  /** `sampling.max_cpu`, in percent of one core. */
  max_cpu_percent_of_core: z.number(),
  /** Set while sampling is slowed down; null at the configured frequency. */
  backoff: samplerBackoffSchema.nullable(),
  /** CPUs sampled. */
  cpus: z.number(),
  /** Samples received. */
  samples: z.number(),
  /** Samples lost in the kernel: the ring buffer was full. */
  lost: z.number(),
  /** Samples dropped in userspace: JavaScript fell behind the drain thread. */
  dropped_in_userspace: z.number(),
  /** Batches whose ingest threw and that were dropped. */
  failed_batches: z.number(),
  /** Samples whose stack the kernel could not read (bpf_get_stack failed), by side; shown as such in profiles. */
  stack_errors: z.object({ kernel: z.number(), user: z.number() }),
  /** The page-fault profile (docs/profiles.md). */
  page_faults: z.object({
    /** `sampling.page_faults.mode`. */
    mode: z.enum(PAGE_FAULT_MODES),
    /** Sampled now. */
    on: z.boolean(),
    /** Why it is on or off, or why turning it on failed. */
    reason: z.string(),
    /** Faults per sample (`sampling.page_faults.period`). */
    period_faults: z.number(),
    /** Page-fault samples taken since the start. */
    samples: z.number(),
    /** Set when the kernel refused the page-faults event; null otherwise. */
    error: z.string().nullable(),
  }),
});
export type SamplerStatus = z.infer<typeof samplerStatusSchema>;

/** User-stack unwinding (docs/unwinding.md): the tables in the kernel and how walks went. */
export const unwindingStatusSchema = z.object({
  /** `sampling.unwind`: `auto` walks with unwind tables where files have them, `frame-pointer` never. */
  mode: z.enum(UNWIND_MODES),
  /** Kernel memory the unwind maps take (bytes): `sampling.unwind_memory`, 0 in frame-pointer mode. */
  map_bytes: z.number(),
  processes: z.object({
    /** Processes the walk has tables for now, and room for. */
    with_tables: z.number(),
    capacity: z.number(),
    /** Learned from their first sample; mappings read again (dlopen); reads that failed. */
    learned: z.number(),
    refreshed: z.number(),
    failed: z.number(),
    /** Waiting to be learned. */
    queued: z.number(),
    /** Forgotten to make room for others (the map was full). */
    evicted: z.number(),
    /** Processes with more than 1,024 mappings (after merging neighbours): the rest walked by frame pointer. */
    mappings_capped: z.number(),
  }),
  files: z.object({
    /** Files whose table is loaded, and of those how many no process maps now (kept until room is needed). */
    with_tables: z.number(),
    unused: z.number(),
    /** Files read that have no call-frame information (walked by frame pointer). */
    without_cfi: z.number(),
    /** Tables that did not fit the rows left (walked by frame pointer). */
    without_room: z.number(),
    /** Tables dropped to make room. */
    evicted: z.number(),
    /** Table reads that failed (see `symbols.problems`). */
    errors: z.number(),
  }),
  rows: z.object({ used: z.number(), capacity: z.number() }),
  mappings: z.object({ used: z.number(), capacity: z.number() }),
  /** Where the tables came from: compiled, the disk cache, shared (docs/api.md#unwinding). */
  tables: unwindTablesStatusSchema,
  /** User stacks since start, by how they were walked (a walk can count in several). */
  walks: z.object({
    /** Walked with tables. */
    with_tables: z.number(),
    /** Of a process with no tables yet: frame pointers alone. */
    without_tables: z.number(),
    /** Stopped at the depth limit (255 frames). */
    truncated: z.number(),
    /** Stepped by frame pointer somewhere (JIT code, a file without CFI, a rule tables cannot express). */
    frame_pointer: z.number(),
    /** Met an address outside every mapping known (the process's mappings are then read again). */
    unknown_mapping: z.number(),
    /** Stopped short of a root: an unreadable stack or a frame that goes nowhere. */
    stopped: z.number(),
  }),
});
export type UnwindingStatus = z.infer<typeof unwindingStatusSchema>;

/** The rolling buffer of samples (`buffer.retain`, `buffer.max_memory`). */
export const bufferStatusSchema = z.object({
  /** Samples held. */
  samples: z.number(),
  /** Seconds from the oldest sample held to the newest. */
  span_s: z.number(),
  /** Bytes held: sample chunks, the stack and thread-name tables, process snapshots (estimated). */
  bytes: z.number(),
  /** `buffer.max_memory` in bytes. */
  max_bytes: z.number(),
  /** Samples that aged out past `buffer.retain`. */
  expired_samples: z.number(),
  /** Samples given up early to stay within `buffer.max_memory`. */
  evicted_early_samples: z.number(),
  /** Samples refused: the budget was reached and everything held was pinned by captures or live. */
  dropped_samples: z.number(),
  /** Unique stacks interned. */
  stacks: z.number(),
  /** Processes known (pid and start time). */
  processes: z.number(),
});
export type BufferStatus = z.infer<typeof bufferStatusSchema>;

/** A metric this host cannot provide, and for which instances. */
export const unavailableMetricStatusSchema = z.object({
  metric: metricNameSchema,
  /** Absent: no instance has it; else only this kind of instance lacks it. */
  scope: z.enum(['system', 'process', 'cgroup']).optional(),
  reason: z.string(),
});
export type UnavailableMetricStatus = z.infer<typeof unavailableMetricStatusSchema>;

/** The collectors' rounds (one a second). */
export const metricsStatusSchema = z.object({
  /** ISO time of the last round that completed; null before the first. */
  last_collect: z.string().nullable(),
  /** How long the last round took (ms). */
  cost_ms: z.number(),
  /** Processes and cgroups the collectors track. */
  processes: z.number(),
  cgroups: z.number(),
  /**
   * Where per-process CPU and RSS come from: `task-iterator`, one read of a BPF task iterator per
   * round; `proc`, one /proc/PID/stat per process (when the iterator cannot load: see the reason).
   */
  process_source: z.enum(['task-iterator', 'proc']),
  process_source_reason: z.string().optional(),
  /**
   * Rounds run before their time since the start (early rounds, and regular rounds brought
   * forward by one): the CPU samples showed a process (or the host) rising towards a `cpu … above`
   * rule between two rounds (daemon/tail2d/early-rounds.ts).
   */
  early_rounds: z.number(),
  unavailable: z.array(unavailableMetricStatusSchema),
});
export type MetricsStatus = z.infer<typeof metricsStatusSchema>;

/** The last reload of the rules (SIGHUP). */
export const rulesReloadSchema = z.object({
  /** Wall-clock ms since the epoch. */
  at_ms: z.number(),
  /** False: the file did not load and the previous rules stay in force. */
  ok: z.boolean(),
  /** Why it failed (`FILE:LINE:COL: message`); absent when it did not. */
  error: z.string().optional(),
});
export type RulesReload = z.infer<typeof rulesReloadSchema>;

export const rulesStatusSchema = z.object({
  /** Rules in force. */
  count: z.number(),
  /** `rules_file`, absolute. */
  file: z.string(),
  /** Null when the rules were not reloaded since the start. */
  last_reload: rulesReloadSchema.nullable(),
  /** Rules that cannot fire on this host: their metric is unavailable for their scope. */
  unavailable: z.array(z.object({ rule: z.string(), metric: metricNameSchema, reason: z.string() })),
});
export type RulesStatus = z.infer<typeof rulesStatusSchema>;

/** A capture not yet on disk (CaptureManager.pending()). */
export const captureInFlightSchema = z.object({
  /** The incident id it will have. */
  id: z.string(),
  /** The rule's name, or `manual`. */
  rule: z.string(),
  /** Wall-clock ms since the epoch it fired (or was asked for). */
  at_ms: z.number(),
  /** Attempts to write it so far (0 while its after window runs). */
  attempts: z.number(),
  /** True while its window is held in the buffer (until it is symbolized). */
  pinned: z.boolean(),
});
export type CaptureInFlight = z.infer<typeof captureInFlightSchema>;

export const capturesStatusSchema = z.object({
  in_flight: z.array(captureInFlightSchema),
  /** Incidents written. */
  written: z.number(),
  /** Of those, written without some of their parts (`problems` in incident.json). */
  degraded: z.number(),
  /** Incidents that could not be written at all. */
  lost: z.number(),
  /** The last write error, `<id>: <message>`; null when none. */
  last_error: z.string().nullable(),
});
export type CapturesStatus = z.infer<typeof capturesStatusSchema>;

/** tail2d's own process. */
export const selfStatusSchema = z.object({
  pid: z.number(),
  /** Over the last collector round, in percent of one core. */
  cpu_percent_of_core: z.number(),
  rss_bytes: z.number(),
  heap_used_bytes: z.number(),
  /** tail2d and its own redis-server: the rules never fire on them. */
  excluded_from_rules: z.array(z.number()),
});
export type SelfStatus = z.infer<typeof selfStatusSchema>;

/**
 * Where tail2d's resident memory goes, read from /proc/self/smaps and V8 at the time of the status
 * (bytes). `rss` splits `rss_bytes` into shares that do not overlap and sum to it; `held` is what
 * tail2d's own parts hold, inside the V8 heap and the array buffers.
 */
export const memoryBreakdownSchema = z.object({
  /** The resident set these shares divide (the sum of smaps' Rss, read with them). */
  rss_bytes: z.number(),
  rss: z.object({
    /** The V8 heap's resident pages (JavaScript objects, strings, compiled code). */
    v8_heap_bytes: z.number(),
    /** Backing stores of ArrayBuffers and Buffers (sample columns, stack tables, metric rings). */
    array_buffers_bytes: z.number(),
    /** Other memory V8 is told of but does not hold (external strings, addon objects). */
    external_bytes: z.number(),
    /** BPF maps mapped into tail2d: the sampler's ring buffer (its pages mapped twice) and the unwind maps. */
    bpf_maps_bytes: z.number(),
    /** Files mapped in: node, its libraries, the addons (shared with other processes that map them). */
    code_bytes: z.number(),
    /**
     * The rest: native allocations (libbpf, SQLite, V8's compiler), thread stacks, and memory the
     * allocator keeps after it was freed.
     */
    unaccounted_bytes: z.number(),
  }),
  /** V8's heap: `used_bytes` live objects (and garbage not yet collected) of `total_bytes` committed. */
  v8_heap: z.object({ used_bytes: z.number(), total_bytes: z.number() }),
  /** What the daemon's parts hold, within the shares above. */
  held: z.object({
    /** Sample chunks of the rolling buffer. */
    samples_bytes: z.number(),
    /** The stack table and thread names the samples point into. */
    stacks_bytes: z.number(),
    /** Process snapshots: executable mappings and command lines. */
    processes_bytes: z.number(),
    metric_history_bytes: z.number(),
    rule_instances_bytes: z.number(),
    /** The metric collectors' per-process state. */
    collectors_bytes: z.number(),
    /** Unwind tables kept in memory besides the kernel's copy (`unwinding.tables.bytes_in_memory`). */
    unwind_tables_bytes: z.number(),
  }),
  /**
   * RSS of the tail2-reader processes, which read and cache the symbols of profiled processes'
   * files in their own memory (each bounded by `symbols.max_memory`): not part of `rss_bytes`.
   */
  symbol_readers_rss_bytes: z.number(),
});
export type MemoryBreakdown = z.infer<typeof memoryBreakdownSchema>;

/**
 * The `buffer.max_memory` budget (MemoryBudget.stats(), mirrored here) and the process's memory.
 * Parts: `samples` (sample chunks, stacks and thread names), `processes`, `metric_history`,
 * `rule_instances`, `process_metrics`.
 */
export const memoryStatusSchema = z.object({
  /** `buffer.max_memory` in bytes. */
  max_bytes: z.number(),
  /** Bytes counted against the budget. */
  bytes: z.number(),
  /** Bytes per part. */
  parts: z.record(z.string(), z.number()),
  /** Things each part gave up to stay within the budget. */
  evicted: z.record(z.string(), z.number()),
  rss_bytes: z.number(),
  heap_used_bytes: z.number(),
  /** Where the RSS goes, part by part. */
  breakdown: memoryBreakdownSchema,
});
export type MemoryStatus = z.infer<typeof memoryStatusSchema>;

/** One file symbolization refused or gave up on. */
export const symbolProblemStatusSchema = z.object({
  /** ISO time it last happened. */
  at: z.string(),
  /** The file as the profiled process named it: untrusted text, escaped wherever it is shown. */
  file: z.string(),
  /** tail2-reader's code: ETIMEDOUT, ECRASHED, ENOTREG, EMISMATCH, ENOTOWNER, ETOOBIG, EBADELF, … */
  code: z.string(),
  message: z.string(),
});

/** One tail2-reader process (ReaderProcess.stats(), mirrored here). */
export const readerStatusSchema = z.object({
  /** Null while none runs. */
  pid: z.number().nullable(),
  requests: z.number(),
  /** Requests that overran their time budget (the reader was killed). */
  timeouts: z.number(),
  /** Readers that died during a request. */
  crashes: z.number(),
  /** Requests waiting or running. */
  queued: z.number(),
});

/** Reading files of profiled processes (ProcessFiles.status(), mirrored here). */
export const symbolsStatusSchema = z.object({
  problems: z.object({
    /** How often each code happened. */
    counts: z.record(z.string(), z.number()),
    /** The latest problems, newest first, one per file (up to 20). */
    recent: z.array(symbolProblemStatusSchema),
  }),
  /** Files not read again for ten minutes after they overran the budget or crashed the reader. */
  quarantined: z.number(),
  /** /proc snapshots of new processes: taken, gone before read, skipped (too many at once), pending. */
  snapshots: z.object({ taken: z.number(), gone: z.number(), skipped: z.number(), pending: z.number() }),
  /** The snapshot reader first, then the symbol readers. */
  readers: z.array(readerStatusSchema),
});
export type SymbolsStatus = z.infer<typeof symbolsStatusSchema>;

/** One uprobe-based profile: whether its probes can be attached (`reason` says why not), and its sampling mean. */
const probedProfileStatusSchema = z.object({
  available: z.boolean(),
  /** Why not: `sampling.allocations.mode is off`, a kernel without session uprobes… */
  reason: z.string().nullable(),
  /** Bytes between samples, on average (`sampling.allocations.mean`, `sampling.copies.mean`). */
  mean_bytes: z.number(),
});

/**
 * The probes of the uprobe-based profiles (docs/profiles.md#allocations, #copies): which
 * processes are probed, for which profile, what it costs them and what they found.
 */
export const probesStatusSchema = z.object({
  profiles: z.object({ malloc: probedProfileStatusSchema, memcpy: probedProfileStatusSchema }),
  /** `probes.max_overhead`: the share of a probed process's CPU time its probes may take. */
  max_overhead: z.number(),
  processes: z.array(
    z.object({
      pid: z.number(),
      kind: z.enum(['malloc', 'memcpy']),
      /** The file probed (its allocator, its libc), as the process sees it. */
      file: z.string(),
      functions: z.array(z.string()),
      /** Why: `tail2 probe`, `rule <name>`… */
      reason: z.string(),
      since: z.string(),
      until: z.string(),
      /** Calls into the probed functions a second, and the share of its CPU time the probes took, over the last second (null before). */
      calls_per_second: z.number().nullable(),
      overhead: z.number().nullable(),
      /** memcpy: every copy since the probes were attached, by size (daemon/model/copy-sizes.ts): `from` (bytes), `to` (null: no bound), `count`. */
      copy_sizes: z.array(z.object({ from: z.number(), to: z.number().nullable(), count: z.number() })).optional(),
    }),
  ),
  /** The last processes that could not be probed: "cannot probe malloc in PID N: …". */
  failures: z.array(z.object({ pid: z.number(), kind: z.enum(['malloc', 'memcpy']), message: z.string(), at: z.string() })),
  /** Sampled allocations not freed yet, and the bytes they stand for; `memory_bytes` what tail2d keeps for them. */
  outstanding: z.object({ allocations: z.number(), bytes: z.number(), processes: z.number(), memory_bytes: z.number() }),
  /**
   * The kernel's side: allocations sampled, frees of sampled ones, those its table had no room
   * for, its table's entries, the allocation programs' runs and time; copies sampled, the copy
   * program's runs and time.
   */
  kernel: z.object({
    samples: z.number(),
    frees: z.number(),
    untracked: z.number(),
    tracked_capacity: z.number(),
    probe_runs: z.number(),
    probe_run_time_ns: z.number(),
    copy_samples: z.number(),
    copy_probe_runs: z.number(),
    copy_probe_run_time_ns: z.number(),
  }),
});
export type ProbesStatus = z.infer<typeof probesStatusSchema>;

export const daemonStatusSchema = z.object({
  /** tail2's version. */
  version: z.string(),
  host: z.string(),
  /** Seconds since the daemon started. */
  uptime_s: z.number(),
  sampler: samplerStatusSchema,
  unwinding: unwindingStatusSchema,
  probes: probesStatusSchema,
  buffer: bufferStatusSchema,
  metrics: metricsStatusSchema,
  rules: rulesStatusSchema,
  captures: capturesStatusSchema,
  self: selfStatusSchema,
  memory: memoryStatusSchema,
  symbols: symbolsStatusSchema,
  /** Null while the store is closed (during start and stop). */
  store: storeStatusSchema.nullable(),
  notifications: z.union([notificationsStatusSchema, notificationsOffSchema]),
  /** `state_dir`, absolute. */
  state_dir: z.string(),
});
export type DaemonStatus = z.infer<typeof daemonStatusSchema>;
