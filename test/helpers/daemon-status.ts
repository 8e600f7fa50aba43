import type { DaemonStatus } from '../../daemon/model/daemon-status.js';

/** Unwinding a minute after the start with the default 64 MiB of tables: 40 processes, 35 files. */
export function quietUnwindingStatus(): DaemonStatus['unwinding'] {
  return {
    mode: 'auto',
    map_bytes: 67_112_928,
    processes: { with_tables: 40, capacity: 30_840, learned: 52, refreshed: 3, failed: 2, queued: 0, evicted: 0, mappings_capped: 0 },
    files: { with_tables: 35, unused: 6, without_cfi: 1, without_room: 0, evicted: 0, errors: 0 },
    rows: { used: 1_204_311, capacity: 7_077_892 },
    mappings: { used: 812, capacity: 262_144 },
    tables: {
      built: 30,
      from_disk: 5,
      shared: 48,
      no_cfi: 1,
      failed: {},
      corrupt_on_disk: 0,
      disk_errors: 0,
      tables_in_memory: 12,
      bytes_in_memory: 6_291_456,
      files_on_disk: 35,
      bytes_on_disk: 9_633_792,
      max_bytes_on_disk: 268_435_456,
      evicted_from_disk: 0,
    },
    walks: { with_tables: 2_050, without_tables: 61, truncated: 0, frame_pointer: 140, unknown_mapping: 4, stopped: 3 },
  };
}

/**
 * What Tail2Daemon.status() returns a minute after the start on a quiet 2-CPU host without
 * notifiers: nothing fired, nothing failed. Tests that need a status but check none of it use
 * this; tests that check a part spread their own over it.
 */
/** Where a quiet daemon's 116 MiB of RSS go: shares that sum to it. */
export function quietMemoryBreakdown(): DaemonStatus['memory']['breakdown'] {
  return {
    rss_bytes: 121_634_816,
    rss: { v8_heap_bytes: 33_554_432, array_buffers_bytes: 4_194_304, external_bytes: 2_097_152, bpf_maps_bytes: 2_101_248, code_bytes: 48_234_496, unaccounted_bytes: 31_453_184 },
    v8_heap: { used_bytes: 24_117_248, total_bytes: 35_651_584 },
    held: { samples_bytes: 786_432, stacks_bytes: 262_144, processes_bytes: 262_144, metric_history_bytes: 131_072, rule_instances_bytes: 32_768, collectors_bytes: 98_304, unwind_tables_bytes: 3_145_728 },
    symbol_readers_rss_bytes: 52_428_800,
  };
}

/** The probes of a daemon that probes nothing. */
export function quietProbesStatus(): DaemonStatus['probes'] {
  return {
    profiles: { malloc: { available: true, reason: null, mean_bytes: 524_288 }, memcpy: { available: true, reason: null, mean_bytes: 1_048_576 } },
    max_overhead: 0.05,
    processes: [],
    failures: [],
    outstanding: { allocations: 0, bytes: 0, processes: 0, memory_bytes: 0 },
    kernel: { samples: 0, frees: 0, untracked: 0, tracked_capacity: 32_768, probe_runs: 0, probe_run_time_ns: 0, copy_samples: 0, copy_probe_runs: 0, copy_probe_run_time_ns: 0 },
  };
}

export function quietDaemonStatus(nowMs = Date.now()): DaemonStatus {
  return {
    version: '0.1.0',
    host: 'db-1',
    uptime_s: 60,
    sampler: {
      running: true,
      error: null,
      frequency: 99,
      configured_frequency: 99,
      max_cpu_percent_of_core: 25,
      backoff: null,
      cpus: 2,
      samples: 2_140,
      lost: 0,
      dropped_in_userspace: 0,
      failed_batches: 0,
      stack_errors: { kernel: 0, user: 0 },
      page_faults: { mode: 'auto', on: true, reason: 'rule leak watches resident memory (sampling.page_faults.mode is auto)', period_faults: 256, samples: 310, error: null },
    },
    unwinding: quietUnwindingStatus(),
    probes: quietProbesStatus(),
    buffer: { samples: 2_140, span_s: 59.6, bytes: 1_310_720, max_bytes: 268_435_456, expired_samples: 0, evicted_early_samples: 0, dropped_samples: 0, stacks: 310, processes: 42 },
    metrics: { last_collect: new Date(nowMs - 400).toISOString(), cost_ms: 1.8, processes: 42, cgroups: 3, process_source: 'task-iterator', early_rounds: 0, unavailable: [] },
    rules: { count: 0, file: '/etc/tail2/rules.yaml', last_reload: null, unavailable: [] },
    captures: { in_flight: [], written: 0, degraded: 0, lost: 0, last_error: null },
    self: { pid: 812, cpu_percent_of_core: 0.4, rss_bytes: 121_634_816, heap_used_bytes: 24_117_248, excluded_from_rules: [812] },
    memory: {
      max_bytes: 268_435_456,
      bytes: 1_572_864,
      parts: { samples: 1_048_576, processes: 262_144, metric_history: 131_072, process_metrics: 98_304, rule_instances: 32_768 },
      evicted: { samples: 0, processes: 0, metric_history: 0, process_metrics: 0, rule_instances: 0 },
      rss_bytes: 121_634_816,
      heap_used_bytes: 24_117_248,
      breakdown: quietMemoryBreakdown(),
    },
    symbols: {
      problems: { counts: {}, recent: [] },
      quarantined: 0,
      snapshots: { taken: 42, gone: 0, skipped: 0, pending: 0 },
      readers: [
        { pid: 813, requests: 42, timeouts: 0, crashes: 0, queued: 0 },
        { pid: 814, requests: 0, timeouts: 0, crashes: 0, queued: 0 },
        { pid: 815, requests: 0, timeouts: 0, crashes: 0, queued: 0 },
      ],
    },
    store: { incidents: 0, missing: 0, bytes: 0, last_error: null, db_path: '/var/lib/tail2/index.sqlite', incidents_dir: '/var/lib/tail2/incidents' },
    notifications: { enabled: false, reason: 'no notifiers configured in tail2.yaml' },
    state_dir: '/var/lib/tail2',
  } satisfies DaemonStatus;
}
