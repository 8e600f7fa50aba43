import type { Pin, RollingBuffer } from '../buffer/rolling-buffer.js';
import type { MetricInstance, MetricName } from '../metrics/metric-types.js';
import type { StackTables } from '../profile/sample-source.js';
import { sliceProfile } from '../profile/slice-profile.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import { newIncidentId } from './incident-id.js';
import type { IncidentRecord, IncidentTrigger, MetricSeries } from './incident-record.js';

/** A request for an incident: a rule fired, or someone asked. */
export interface CaptureRequest {
  /** The rule's name, or `manual`. */
  rule: string;
  trigger: IncidentTrigger;
  instance: MetricInstance;
  /** Wall-clock ms of the firing: the window is [at - before, at + after]. */
  atMs: number;
  beforeMs: number;
  afterMs: number;
  notify: string[];
  /** Metrics to chart for the window (the rule's own first). */
  metrics: MetricName[];
  /**
   * When the rule's condition started to hold. [at - before, heldSince) is the baseline the
   * differential flamegraph compares against; absent for manual captures.
   */
  heldSinceMs?: number;
}

/** An incident's profile, whole and split at the moment the condition began to hold. */
export interface IncidentProfiles {
  /** The whole window [at - before, at + after]. */
  profile: SymbolizedProfile;
  /** From the moment the condition held (the whole window for manual captures). */
  trigger: SymbolizedProfile;
  /** Before the condition held, when that part has samples: what "normal" looked like. */
  baseline?: SymbolizedProfile;
}

/** Where finished captures go: the incident store, with the artifacts it renders. */
export interface IncidentPersister {
  /** Writes the incident whole or not at all and returns where it went. */
  persist(record: IncidentRecord, profiles: IncidentProfiles): Promise<string>;
}

/** Metric values kept by the collectors, for the incident's chart. */
export interface SeriesSource {
  series(metric: MetricName, instance: MetricInstance, fromMs: number, toMs: number): Array<[number, number]>;
}

/** Converts between wall-clock ms and the sampler's monotonic ns. */
export interface CaptureClock {
  nowMs(): number;
  wallToMonotonicNs(wallMs: number): number;
  monotonicToWallMs(monotonicNs: number): number;
}

export interface CaptureDependencies {
  persister: IncidentPersister;
  buffer: RollingBuffer;
  tables: StackTables;
  symbolizer: ProfileSymbolizer;
  /** The sampling frequency now (Hz): self-protection may lower it while the daemon runs. */
  frequency: () => number;
  host: { name: string; kernel: string; version: string };
  clock: CaptureClock;
  /** Makes the sampler hand over what it holds, so the window's last second is in the buffer. */
  flush: () => Promise<void>;
  series?: SeriesSource;
  /** Called with each incident once it is on disk. */
  onIncident?: (record: IncidentRecord, directory: string) => void;
  onError?: (id: string, error: Error, willRetry: boolean) => void;
}

interface InFlight {
  request: CaptureRequest;
  pin: Pin;
  timer?: NodeJS.Timeout;
  attempts: number;
}

/** First retry after a failed write (disk full, I/O error); doubles up to the cap. */
const RETRY_DELAY_MS = 10_000;
const MAX_RETRY_DELAY_MS = 60_000;

/**
 * Turns capture requests into incidents on disk. The moment a request arrives, the window
 * [at - before, at + after] is pinned in the rolling buffer so eviction cannot take it; sampling
 * goes on; at `at + after` the window is cut, symbolized and written. Captures may overlap. A write
 * that fails (disk full) is retried for as long as the daemon runs, with the window still pinned,
 * so nothing captured is lost while the disk recovers.
 */
export class CaptureManager {
  private readonly inFlight = new Map<string, InFlight>();

  constructor(private readonly deps: CaptureDependencies) {}

  /** Starts a capture and returns the incident id it will have. */
  start(request: CaptureRequest): string {
    const id = newIncidentId(request.atMs, request.rule);
    const { clock, buffer } = this.deps;
    const pin = buffer.pin(clock.wallToMonotonicNs(request.atMs - request.beforeMs), clock.wallToMonotonicNs(request.atMs + request.afterMs));
    const capture: InFlight = { request, pin, attempts: 0 };
    this.inFlight.set(id, capture);
    const delay = Math.max(0, request.atMs + request.afterMs - clock.nowMs());
    capture.timer = setTimeout(() => void this.finish(id), delay);
    return id;
  }

  /** Captures not yet on disk. */
  pending(): Array<{ id: string; rule: string; atMs: number; attempts: number }> {
    return [...this.inFlight].map(([id, c]) => ({ id, rule: c.request.rule, atMs: c.request.atMs, attempts: c.attempts }));
  }

  /**
   * Shutdown: cuts every capture in flight at `now` and writes it, so a SIGTERM never loses one.
   */
  async finishAll(): Promise<void> {
    const ids = [...this.inFlight.keys()];
    for (const id of ids) {
      const capture = this.inFlight.get(id);
      if (capture?.timer) clearTimeout(capture.timer);
    }
    await Promise.all(ids.map((id) => this.finish(id, true)));
  }

  private async finish(id: string, final = false): Promise<void> {
    const capture = this.inFlight.get(id);
    if (!capture) return;
    capture.timer = undefined;
    capture.attempts++;
    const { request } = capture;
    const { clock, buffer, tables, symbolizer } = this.deps;
    try {
      const toMs = Math.min(request.atMs + request.afterMs, clock.nowMs());
      const fromMs = request.atMs - request.beforeMs;
      await this.deps.flush();
      const profile = await symbolizer.symbolize(tables, buffer, {
        frequency: this.deps.frequency(),
        monotonicToWallMs: clock.monotonicToWallMs,
        fromNs: clock.wallToMonotonicNs(fromMs),
        toNs: clock.wallToMonotonicNs(toMs),
        title: `${request.rule} on ${this.deps.host.name}`,
      });
      // One symbolization; the baseline (before the condition held) is cut out of it.
      const heldSince = request.heldSinceMs;
      const splitNs = heldSince !== undefined ? (heldSince - fromMs) * 1e6 : 0;
      const baseline = splitNs > 0 ? sliceProfile(profile, 0, splitNs) : undefined;
      const trigger = splitNs > 0 ? sliceProfile(profile, splitNs, Infinity) : profile;
      const instance = request.instance;
      const record: IncidentRecord = {
        id,
        rule: request.rule,
        fired_at: new Date(request.atMs).toISOString(),
        host: this.deps.host.name,
        kernel: this.deps.host.kernel,
        tail2_version: this.deps.host.version,
        status: 'captured',
        trigger: request.trigger,
        instance,
        process: instance.kind === 'process' ? { pid: instance.pid, comm: instance.comm, cmdline: instance.cmdline } : undefined,
        window: {
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          before_ms: request.beforeMs,
          after_ms: request.afterMs,
          held_since: heldSince !== undefined ? new Date(heldSince).toISOString() : null,
        },
        profile: {
          samples: profile.samples.stack.length,
          stacks: profile.stacks.length,
          processes: new Set(profile.stacks.map((s) => s.pid)).size,
          frequency: profile.frequency,
        },
        series: this.seriesFor(request, fromMs, toMs),
        notify: request.notify,
        notifications: request.notify.map((target) => ({ target, status: 'pending' })),
      };
      const directory = await this.deps.persister.persist(record, {
        profile,
        trigger,
        baseline: baseline && baseline.samples.stack.length > 0 ? baseline : undefined,
      });
      this.inFlight.delete(id);
      capture.pin.release();
      this.deps.onIncident?.(record, directory);
    } catch (error) {
      const retry = !final;
      this.deps.onError?.(id, error as Error, retry);
      if (retry) {
        const delay = Math.min(RETRY_DELAY_MS * 2 ** (capture.attempts - 1), MAX_RETRY_DELAY_MS);
        capture.timer = setTimeout(() => void this.finish(id), delay);
      } else {
        this.inFlight.delete(id);
        capture.pin.release();
      }
    }
  }

  private seriesFor(request: CaptureRequest, fromMs: number, toMs: number): MetricSeries[] {
    const source = this.deps.series;
    if (!source) return [];
    return request.metrics.map((metric) => ({ metric, instance: request.instance, points: source.series(metric, request.instance, fromMs, toMs) }));
  }
}
