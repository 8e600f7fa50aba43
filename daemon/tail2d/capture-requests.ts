import type { Logger } from 'pino';
import type { RollingBuffer } from '../buffer/rolling-buffer.js';
import { CaptureManager, type CaptureDependencies, type CaptureClock, type SeriesSource } from '../capture/capture-manager.js';
import type { CapturesStatus } from '../model/daemon-status.js';
import { instanceKey } from '../model/metrics.js';
import type { StackTables } from '../profile/sample-source.js';
import type { IncidentStore } from '../store/incident-store.js';
import type { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import type { RuleEvent } from '../../triggers/rule-engine.js';
import type { DaemonMetrics } from './daemon-metrics.js';

/** Age limits expire on their own, not only when a new incident arrives. */
const RETENTION_INTERVAL_MS = 60_000;

export interface CaptureRequestsOptions {
  /** Where incidents go; retention runs on it after each one and every minute. */
  store: Pick<IncidentStore, 'write' | 'addArtifacts' | 'enforceRetention'>;
  buffer: RollingBuffer;
  tables: StackTables;
  symbolizer: ProfileSymbolizer;
  /** The outstanding sampled allocations (the incidents' `inuse` profile). */
  allocations?: CaptureDependencies['allocations'];
  /** The sampling frequency now (Hz), for the profile's header. */
  frequency: () => number;
  /** CPUs the sampler samples, for the idle share. */
  cpus: () => number;
  /** `capture.include_idle` as it is now (SIGHUP changes it). */
  includeIdle: () => boolean;
  /** Makes the sampler hand over what it holds before a window is cut. */
  flush: () => Promise<void>;
  series: SeriesSource;
  host: { name: string; kernel: string; version: string };
  clock: CaptureClock;
  /** An incident is in the store, its notifications in the outbox: hand them to the queue. */
  onStored: () => void;
  metrics: DaemonMetrics;
  log: Logger;
}

/**
 * Where incidents come from: a rule's firing or a person's request becomes a
 * `CaptureRequest` for the capture manager, which pins the window and writes the incident;
 * each stored incident is counted, logged, handed to the notifications and followed by retention.
 */
export class CaptureRequests {
  private readonly captures: CaptureManager;
  private retentionTimer: NodeJS.Timeout | undefined;
  private written = 0;
  private degraded = 0;
  private lastError: string | undefined;

  constructor(private readonly options: CaptureRequestsOptions) {
    const { log, metrics } = options;
    this.captures = new CaptureManager({
      store: options.store,
      buffer: options.buffer,
      tables: options.tables,
      symbolizer: options.symbolizer,
      allocations: options.allocations,
      frequency: options.frequency,
      cpus: options.cpus,
      includeIdle: options.includeIdle,
      host: options.host,
      clock: options.clock,
      flush: options.flush,
      series: options.series,
      onStored: (record, directory) => {
        // The incident's notifications were stored with it (the outbox); now queue them.
        options.onStored();
        void this.enforceRetention();
        this.written++;
        // From the end of the capture window to the incident on disk: symbolize, render what the
        // notification carries, write (the other artifacts follow).
        metrics.incidentWritten(record.rule, Math.max(0, Date.now() - Date.parse(record.window.to)) / 1000);
        if (record.problems) {
          this.degraded++;
          log.warn({ incident: record.id, rule: record.rule, directory, samples: record.profile.samples, problems: record.problems }, 'incident written without some of its parts');
        } else {
          log.info({ incident: record.id, rule: record.rule, directory, samples: record.profile.samples }, 'incident written');
        }
      },
      onCompleted: (record, files, problems) => {
        if (problems.length > 0) log.warn({ incident: record.id, rule: record.rule, files, problems }, 'incident completed without some of its parts');
        else log.debug({ incident: record.id, files }, 'incident completed: every artifact written');
      },
      onError: (id, error, willRetry) => {
        this.lastError = `${id}: ${error.message}`;
        log.error({ incident: id, err: error, willRetry }, willRetry ? 'writing the incident failed; retrying' : 'writing the incident failed; writing what can be written');
      },
      onLost: (id, error) => {
        this.lastError = `${id}: lost: ${error.message}`;
        log.fatal({ incident: id, err: error, lost: this.captures.lost() }, 'an incident could not be written at all and is lost');
      },
    });
  }

  /** Starts the retention timer. */
  start(): void {
    this.retentionTimer = setInterval(() => void this.enforceRetention(), RETENTION_INTERVAL_MS);
  }

  /** Stops the retention timer; captures in flight go on until {@link finishAll}. */
  stop(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = undefined;
  }

  /** Cuts every capture in flight at now and writes it (reduced if need be). */
  finishAll(): Promise<void> {
    return this.captures.finishAll();
  }

  /** A rule event: a firing starts a capture; the others are logged at debug level. */
  onRuleEvent(event: RuleEvent): void {
    const fields = { rule: event.rule.name, instance: instanceKey(event.instance), value: event.value, threshold: event.threshold };
    if (event.type !== 'firing') {
      this.options.log.debug({ ...fields, reason: event.reason }, `rule ${event.type}`);
      return;
    }
    const { rule } = event;
    const id = this.captures.start({
      rule: rule.name,
      trigger: { kind: 'rule', metric: rule.metric, comparison: rule.comparison, value: event.value, threshold: event.threshold, thresholdText: rule.threshold.text, forMs: rule.forMs },
      instance: event.instance,
      atMs: event.atMs,
      beforeMs: rule.capture.beforeMs,
      afterMs: rule.capture.afterMs,
      notify: rule.notify,
      metrics: [rule.metric],
      heldSinceMs: event.heldSinceMs,
    });
    this.options.log.warn({ ...fields, incident: id }, 'rule fired: capturing');
  }

  /** A manual capture (tail2 capture, POST /api/capture) of the host; returns the incident id it will have. */
  manual(beforeMs: number, afterMs: number, reason: string): string {
    const id = this.captures.start({
      rule: 'manual',
      trigger: { kind: 'manual', reason },
      instance: { kind: 'system' },
      atMs: Date.now(),
      beforeMs,
      afterMs,
      notify: [],
      metrics: ['cpu'],
    });
    this.options.log.info({ incident: id, reason, beforeMs, afterMs }, 'manual capture started');
    return id;
  }

  /** Captures not yet on disk. */
  inFlight(): number {
    return this.captures.pending().length;
  }

  /** Incidents written since the start. */
  get writtenCount(): number {
    return this.written;
  }

  /** Incidents written without some of their parts, and incidents not written at all. */
  failures(): { degraded: number; lost: number } {
    return { degraded: this.degraded, lost: this.captures.lost() };
  }

  /** `captures` in GET /api/status. */
  status(): CapturesStatus {
    return { in_flight: this.captures.pending(), written: this.written, degraded: this.degraded, lost: this.captures.lost(), last_error: this.lastError ?? null };
  }

  private async enforceRetention(): Promise<void> {
    try {
      const result = await this.options.store.enforceRetention();
      if (result.deleted.length > 0) this.options.log.info({ deleted: result.deleted.length }, 'incident retention');
    } catch (error) {
      this.options.log.error({ err: error }, 'incident retention failed');
    }
  }
}
