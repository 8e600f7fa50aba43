import { hostname } from 'node:os';
import type { MemoryBudget } from '../buffer/memory-budget.js';
import type { RollingBuffer } from '../buffer/rolling-buffer.js';
import type { BufferStatus, DaemonStatus, MemoryStatus, ProbesStatus } from '../model/daemon-status.js';
import type { StackTables } from '../profile/sample-source.js';
import type { IncidentStore } from '../store/incident-store.js';
import type { ProcessFiles } from '../symbols/process-files.js';
import type { Notifications } from '../../notifiers/notifications.js';
import type { CaptureRequests } from './capture-requests.js';
import type { DaemonGauges } from './daemon-metrics.js';
import { memoryBreakdown } from './memory-breakdown.js';
import type { OwnUsage } from './own-usage.js';
import type { RuleRounds } from './rule-rounds.js';
import type { Sampling } from './sampling.js';
import type { UnwindTables } from '../unwind/unwind-tables.js';
import { TAIL2_VERSION } from './version.js';
import { watchdogHealth } from './watchdog-health.js';

/** The daemon's parts, as the report reads them; what start() opens is undefined before and after. */
export interface StatusSources {
  /** `state_dir`, absolute. */
  stateDir: string;
  startedAtMs: number;
  sampling: Sampling;
  buffer: RollingBuffer;
  tables: StackTables;
  budget: MemoryBudget;
  files: ProcessFiles;
  unwindTables: UnwindTables;
  rounds: RuleRounds;
  ownUsage: OwnUsage;
  ownPids: () => Set<number>;
  captures: () => CaptureRequests | undefined;
  store: () => IncidentStore | undefined;
  notifications: () => Notifications | undefined;
  /** The allocation probes' status (tail2d/allocation-probing.ts), from the sampler's counters as read for the sampler's. */
  probes: (stats: ReturnType<Sampling['samplerStats']>) => ProbesStatus;
}

/**
 * What the daemon says about itself: GET /api/status and `tail2 status` ({@link DaemonStatus}),
 * /metrics ({@link DaemonGauges}), systemd's watchdog and STATUS= line. Each reads the parts at
 * the time of the call.
 */
export class StatusReport {
  private redisDownSinceMs: number | undefined;

  constructor(private readonly parts: StatusSources) {}

  /** GET /api/status: every part of the daemon (docs/api.md). */
  status(): DaemonStatus {
    const { parts } = this;
    const samplerStats = parts.sampling.samplerStats();
    const usage = parts.ownUsage.current();
    const symbols = parts.files.status();
    return {
      version: TAIL2_VERSION,
      host: hostname(),
      uptime_s: Math.round((Date.now() - parts.startedAtMs) / 1000),
      sampler: parts.sampling.status(samplerStats),
      unwinding: { ...parts.sampling.unwindingStatus(), tables: parts.unwindTables.status() },
      probes: parts.probes(samplerStats),
      buffer: this.bufferStatus(),
      metrics: parts.rounds.metricsStatus(),
      rules: parts.rounds.rulesStatus(),
      captures: parts.captures()?.status() ?? { in_flight: [], written: 0, degraded: 0, lost: 0, last_error: null },
      self: { pid: process.pid, ...usage, excluded_from_rules: [...parts.ownPids()] },
      memory: this.memoryStatus(usage, symbols),
      symbols,
      store: parts.store()?.stats() ?? null,
      notifications: parts.notifications()?.status() ?? { enabled: false, reason: 'no notifiers configured in tail2.yaml' },
      state_dir: parts.stateDir,
    };
  }

  /** What /metrics reads at scrape time. */
  gauges(): DaemonGauges {
    const { parts } = this;
    const totals = parts.sampling.totals();
    const buffer = parts.buffer.stats();
    const store = parts.store()?.stats();
    const notifications = parts.notifications()?.status();
    const captures = parts.captures();
    const failures = captures?.failures() ?? { degraded: 0, lost: 0 };
    return {
      sampler: {
        samples: totals.samples,
        lost: totals.lost,
        droppedInUserspace: totals.droppedInUserspace,
        failedBatches: parts.sampling.batchFailures,
        frequency: parts.sampling.frequency,
        cpus: totals.cpus,
        running: parts.sampling.error === undefined,
      },
      buffer: { spanSeconds: buffer.spanNs / 1e9, bytes: buffer.bytes, maxBytes: buffer.maxBytes, samples: buffer.samples, expiredSamples: buffer.expiredSamples, evictedEarlySamples: buffer.evictedEarlySamples },
      rules: [...parts.rounds.states()],
      capturesInFlight: captures?.inFlight() ?? 0,
      incidentsDegraded: failures.degraded,
      incidentsLost: failures.lost,
      store: store ? { incidents: store.incidents, bytes: store.bytes } : null,
      notifications: notifications ? { redisUp: notifications.redis.reachable, outbox: notifications.outbox, targets: notifications.targets } : null,
    };
  }

  /** For systemd's watchdog; see {@link watchdogHealth}. Tracks since when Redis is unreachable. */
  health(nowMs = Date.now()): { ok: boolean; reason?: string } {
    const { parts } = this;
    const redis = parts.notifications()?.status().redis;
    if (!redis || redis.reachable) this.redisDownSinceMs = undefined;
    else this.redisDownSinceMs ??= nowMs;
    return watchdogHealth({ samplingError: parts.sampling.error, redis, redisDownSinceMs: this.redisDownSinceMs, capturesInFlight: parts.captures()?.inFlight() ?? 0, nowMs });
  }

  /** One line for systemd's STATUS=. */
  summaryLine(): string {
    const { parts } = this;
    const firing = parts.rounds.states().reduce((n, view) => n + view.instances.filter((i) => i.state === 'firing' || i.state === 'pending').length, 0);
    const span = Math.round(parts.buffer.stats().spanNs / 1e9);
    const written = parts.captures()?.writtenCount ?? 0;
    return `sampling ${parts.sampling.totals().cpus} CPUs at ${parts.sampling.frequency} Hz, ${span} s buffered; ${parts.rounds.count} rules (${firing} pending or firing); ${written} incidents written`;
  }

  private memoryStatus(usage: { rss_bytes: number; heap_used_bytes: number }, symbols: DaemonStatus['symbols']): MemoryStatus {
    const { buffer, tables, budget, unwindTables } = this.parts;
    const stats = budget.stats();
    const breakdown = memoryBreakdown({
      samplesBytes: buffer.stats().sampleBytes,
      stacksBytes: tables.stacks.bytes + tables.comms.bytes,
      budgetParts: stats.parts,
      unwindTablesBytes: unwindTables.status().bytes_in_memory,
      readerPids: symbols.readers.flatMap((reader) => (reader.pid === null ? [] : [reader.pid])),
    });
    return { ...stats, rss_bytes: usage.rss_bytes, heap_used_bytes: usage.heap_used_bytes, breakdown };
  }

  private bufferStatus(): BufferStatus {
    const { buffer, tables } = this.parts;
    const stats = buffer.stats();
    return {
      samples: stats.samples,
      span_s: stats.spanNs / 1e9,
      bytes: stats.bytes,
      max_bytes: stats.maxBytes,
      expired_samples: stats.expiredSamples,
      evicted_early_samples: stats.evictedEarlySamples,
      dropped_samples: stats.droppedSamples,
      stacks: tables.stacks.size,
      processes: tables.processes.size,
    };
  }
}
