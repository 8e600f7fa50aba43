import { cpus as onlineCpus } from 'node:os';
import type { Pin, RollingBuffer } from '../buffer/rolling-buffer.js';
import type { MetricInstance, MetricName } from '../model/metrics.js';
import { sliceProfile } from '../profile/slice-profile.js';
import { kindsIn } from '../profile/kinds-in.js';
import { totalWeight } from '../profile/symbolized-profile.js';
import { PROFILE_KINDS } from '../model/profile-kind.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import { isTransientStorageError } from '../store/store-error.js';
import type { SampleSource, StackTables } from '../profile/sample-source.js';
import { measureIdleShare, type IdleShare } from '../profile/idle-share.js';
import type { ProcessEntry } from '../profile/process-table.js';
import type { ProcessSnapshot } from '../symbols/proc-maps.js';
import { commonMainBinary, mainBinaryOf } from '../formats/main-binary.js';
import { CgroupMembers } from './cgroup-members.js';
import type { IncidentProfiles, IncidentScope } from './incident-profiles.js';
import { scopeOfPids } from './scope-profile.js';
import { INCIDENT_RENDERERS, kindRenderers, problemOf, type ArtifactRenderer, type IncidentFile, type RenderedIncident } from './incident-files.js';
import { renderStaged } from './staged-render.js';
import type { IncidentProblem } from '../model/incident-record.js';
import { newIncidentId } from './incident-id.js';
import type { IncidentRecord, IncidentTrigger, MetricSeries } from '../model/incident-record.js';
import type { CaptureInFlight } from '../model/daemon-status.js';

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


/** What the capture needs of the incident store (IncidentStore has it). */
export interface IncidentWriter {
  /** Writes the incident (incident.json from `record`, and `files`) whole or not at all; returns its directory. */
  write(record: IncidentRecord, files: IncidentFile[]): Promise<string>;
  /** Adds files (and problems) to a stored incident, durably; false when it is gone. */
  addArtifacts(id: string, files: IncidentFile[], problems: IncidentProblem[]): Promise<boolean>;
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
  /** Where finished captures go. */
  store: IncidentWriter;
  /**
   * The artifacts to make of an incident's profiles; each that fails is a problem, not a failure.
   * Those a notification carries are stored with incident.json, the others just after (staged-render.ts).
   * @defaultValue INCIDENT_RENDERERS, and kindRenderers for each other kind of profile
   */
  renderers?: (profiles: IncidentProfiles) => readonly ArtifactRenderer[];
  buffer: RollingBuffer;
  tables: StackTables;
  symbolizer: ProfileSymbolizer;
  /**
   * The outstanding sampled allocations of the probed processes (daemon/profile/allocation-ledger.ts):
   * an incident carries them as its `inuse` profile, as they are when the window ends.
   */
  allocations?: SampleSource & { oldestNs(): number | undefined; hold(): () => void };
  /** CPUs the sampler samples, for the idle share. @defaultValue the online CPUs */
  cpus?: () => number;
  /**
   * Keep the idle task (pid 0) in the incident's profiles (`capture.include_idle`); read at each
   * capture. Either way its share is stated in titles and the summary. @defaultValue false
   */
  includeIdle?: () => boolean;
  /**
   * The pids in a cgroup and below it, for the flamegraph of a cgroup or unit rule's incident.
   * @defaultValue {@link CgroupMembers}.pids on the cgroup v2 mount
   */
  cgroupPids?: (path: string) => Promise<Set<number>>;
  /** The sampling frequency now (Hz): self-protection may lower it while the daemon runs. */
  frequency: () => number;
  host: { name: string; kernel: string; version: string };
  clock: CaptureClock;
  /** Makes the sampler hand over what it holds, so the window's last second is in the buffer. */
  flush: () => Promise<void>;
  series?: SeriesSource;
  /**
   * How long a capture whose write keeps failing with a transient error (disk full, I/O error) is
   * retried before it is written with incident.json and samples.json.gz alone (ms).
   * @defaultValue 1_800_000 (30 min)
   */
  retryForMs?: number;
  /** First wait after a failed write (ms); doubles up to 60 s. @defaultValue 10_000 */
  retryDelayMs?: number;
  /**
   * Called with each incident once it is in the store (`record.problems` says what it lacks): its
   * notifications are in the store's outbox from then on, and retention may run. The artifacts a
   * notification does not carry are being rendered and added then ({@link onCompleted}).
   */
  onStored?: (record: IncidentRecord, directory: string) => void;
  /** The rest of an incident's artifacts are on disk too (`problems`: those that could not be made). */
  onCompleted?: (record: IncidentRecord, files: string[], problems: IncidentProblem[]) => void;
  onError?: (id: string, error: Error, willRetry: boolean) => void;
  /** An incident that could not be written at all, even reduced: it is gone. Logged loudly by the caller. */
  onLost?: (id: string, error: Error) => void;
}

/** A capture on its way to disk. */
interface InFlight {
  request: CaptureRequest;
  /** Holds the window in the buffer until it is symbolized; undefined after. */
  pin: Pin | undefined;
  timer?: NodeJS.Timeout;
  attempts: number;
  /** Once symbolized and rendered: what must reach the disk (much smaller than the window). */
  prepared?: Prepared;
  /** Wall-clock ms of the first failed attempt: transient failures are retried until retryForMs after it. */
  failingSinceMs?: number;
  /** The attempt in progress, so finishAll() waits for it rather than starting a second one. */
  running?: Promise<void>;
  /** A cgroup rule's processes as they were when it fired (read again when the window is cut). */
  members?: Promise<Set<number>>;
  /** A warm-up symbolization in progress, and the timer of the next (see WARM_UP_LEAD_MS). */
  warming?: Promise<void>;
  warmTimer?: NodeJS.Timeout;
}

interface Prepared {
  record: IncidentRecord;
  files: IncidentFile[];
  /** Renders the artifacts stored after the incident (none for an incident without a profile). */
  rest?: () => Promise<RenderedIncident>;
}

/** The files a reduced incident keeps: every other artifact can be rendered again from the samples. */
const ESSENTIAL_FILES = new Set(['samples.json.gz']);
const DEFAULT_RETRY_FOR_MS = 30 * 60_000;
const DEFAULT_RETRY_DELAY_MS = 10_000;
const MAX_RETRY_DELAY_MS = 60_000;
/**
 * Symbolizing a window is mostly tail2-reader opening and parsing the binaries its stacks run in
 * (seconds for a host's first capture). Done once at the firing and once this long before the end
 * of `after`, it leaves the reader's caches warm, so the symbolization at the end, which the
 * incident and its message wait for, is mostly cache hits.
 */
const WARM_UP_LEAD_MS = 700;

/**
 * Turns capture requests into incidents on disk. The moment a request arrives, the window
 * [at - before, at + after] is pinned in the rolling buffer so eviction cannot take it; sampling
 * goes on; at `at + after` the window is cut and symbolized, which releases the pin (the profile
 * is what must survive from then on), rendered and written.
 *
 * Failures never lose the capture and never hold memory without end:
 * - an artifact that fails to render is left out and named in the record's `problems`;
 * - a window that cannot be symbolized is written as a record without artifacts, saying why;
 * - a write that fails with a transient error (disk full, I/O error; see
 *   {@link isTransientStorageError}) is retried with backoff for up to `retryForMs`, then, as for
 *   any other write failure, the incident is written reduced to incident.json and
 *   samples.json.gz (which every artifact is rendered from); only when even that fails is it
 *   reported lost (`onLost`).
 */
export class CaptureManager {
  private readonly inFlight = new Map<string, InFlight>();
  /** Stored incidents whose other artifacts are being rendered and added. */
  private readonly completing = new Set<Promise<void>>();
  private lostCount = 0;
  private readonly cgroupPids: (path: string) => Promise<Set<number>>;

  constructor(private readonly deps: CaptureDependencies) {
    const members = new CgroupMembers();
    this.cgroupPids = deps.cgroupPids ?? ((path) => members.pids(path));
  }

  /** Starts a capture and returns the incident id it will have. */
  start(request: CaptureRequest): string {
    const id = newIncidentId(request.atMs, request.rule);
    const { clock, buffer } = this.deps;
    const pin = buffer.pin(clock.wallToMonotonicNs(request.atMs - request.beforeMs), clock.wallToMonotonicNs(request.atMs + request.afterMs));
    const capture: InFlight = { request, pin, attempts: 0 };
    // Who is in the cgroup now, while the processes that made it fire are still there.
    if (request.instance.kind === 'cgroup') capture.members = this.membersOf(request.instance.path);
    this.inFlight.set(id, capture);
    const delay = Math.max(0, request.atMs + request.afterMs - clock.nowMs());
    capture.timer = setTimeout(() => this.attempt(id), delay);
    if (delay > 0) this.warmUp(capture, delay);
    return id;
  }

  /** Symbolizes the window so far now, and again shortly before its end, for the caches alone (see WARM_UP_LEAD_MS). */
  private warmUp(capture: InFlight, delayMs: number): void {
    const { clock, buffer, tables, symbolizer } = this.deps;
    const run = () => {
      if (!capture.pin || capture.running) return;
      const { request } = capture;
      const window = { frequency: this.deps.frequency(), monotonicToWallMs: clock.monotonicToWallMs, fromNs: clock.wallToMonotonicNs(request.atMs - request.beforeMs), toNs: clock.wallToMonotonicNs(clock.nowMs()) };
      // Its failures are the final symbolization's to meet and report.
      capture.warming = symbolizer.symbolize(tables, buffer, window).then(
        () => undefined,
        () => undefined,
      );
    };
    run();
    if (delayMs - WARM_UP_LEAD_MS >= WARM_UP_LEAD_MS) capture.warmTimer = setTimeout(run, delayMs - WARM_UP_LEAD_MS);
  }

  /** Captures not yet on disk (`captures.in_flight` in GET /api/status). */
  pending(): CaptureInFlight[] {
    return [...this.inFlight].map(([id, c]) => ({ id, rule: c.request.rule, at_ms: c.request.atMs, attempts: c.attempts, pinned: c.pin !== undefined }));
  }

  /** Incidents that could not be written at all since the daemon started. */
  lost(): number {
    return this.lostCount;
  }

  /**
   * Shutdown: cuts every capture in flight at `now` and writes it (reduced if need be), so a
   * SIGTERM never loses one. Waits for an attempt already in progress instead of doubling it.
   */
  async finishAll(): Promise<void> {
    const ids = [...this.inFlight.keys()];
    for (const id of ids) {
      const capture = this.inFlight.get(id);
      if (capture?.timer) clearTimeout(capture.timer);
      if (capture) capture.timer = undefined;
    }
    await Promise.all(
      ids.map(async (id) => {
        await this.inFlight.get(id)?.running;
        if (this.inFlight.has(id)) await this.finish(id, true);
      }),
    );
    // Stored incidents get the rest of their artifacts before the daemon goes.
    while (this.completing.size > 0) await Promise.all([...this.completing]);
  }

  /** A timer's attempt: never rejects (finish catches), and is remembered for finishAll. */
  private attempt(id: string): void {
    const capture = this.inFlight.get(id);
    if (!capture) return;
    capture.timer = undefined;
    const running = this.finish(id).finally(() => {
      if (capture.running === running) capture.running = undefined;
    });
    capture.running = running;
  }

  private async finish(id: string, final = false): Promise<void> {
    const capture = this.inFlight.get(id);
    if (!capture) return;
    capture.attempts++;
    try {
      capture.prepared ??= await this.prepare(id, capture, final);
      if (!capture.prepared) return; // a transient symbolizer failure: retried with the window pinned
      const { record, files } = capture.prepared;
      await this.write(id, capture, record, files, final);
    } catch (error) {
      // A bug in this file's own steps: never let a capture stay in flight for ever because of one.
      this.deps.onError?.(id, error as Error, false);
      this.drop(id, capture, error as Error);
    }
  }

  /**
   * Symbolizes the window (and releases the pin) and renders the files. Undefined when
   * symbolizing failed in a way worth retrying: the pin stays and the next attempt tries again.
   */
  private async prepare(id: string, capture: InFlight, final: boolean): Promise<Prepared | undefined> {
    const { request } = capture;
    const { clock, buffer, tables, symbolizer } = this.deps;
    const toMs = Math.min(request.atMs + request.afterMs, clock.nowMs());
    const fromMs = request.atMs - request.beforeMs;
    let profiles: IncidentProfiles;
    if (capture.warmTimer) clearTimeout(capture.warmTimer);
    capture.warmTimer = undefined;
    try {
      // A warm-up still running has the reader busy with the same files: its answers are cached after.
      await capture.warming;
      await this.deps.flush();
      const includeIdle = this.deps.includeIdle?.() ?? false;
      // Each process's executable, met while symbolizing: pprof names the watched one's.
      const binaries = new Map<number, string | undefined>();
      const includeProcess = (entry: ProcessEntry, snapshot: ProcessSnapshot | undefined): boolean => {
        if (entry.pid === 0) return includeIdle;
        binaries.set(entry.pid, mainBinaryOf(snapshot) ?? binaries.get(entry.pid));
        return true;
      };
      const window = {
        frequency: this.deps.frequency(),
        monotonicToWallMs: clock.monotonicToWallMs,
        fromNs: clock.wallToMonotonicNs(fromMs),
        toNs: clock.wallToMonotonicNs(toMs),
        title: `${request.rule} on ${this.deps.host.name}`,
        includeProcess,
      };
      const profile = await symbolizer.symbolize(tables, buffer, window);
      // Every other kind of profile the window holds (page faults, off-CPU time…), whole.
      const others: SymbolizedProfile[] = [];
      for (const kind of kindsIn(tables, buffer, window.fromNs, window.toNs)) {
        if (kind !== 'cpu') others.push(await symbolizer.symbolize(tables, buffer, { ...window, kind }));
      }
      // What probed processes hold at the window's end, from whenever it was allocated.
      const oldestNs = this.deps.allocations?.oldestNs();
      if (this.deps.allocations && oldestNs !== undefined) {
        // Held: a probe detached meanwhile must not free the stacks being symbolized.
        const release = this.deps.allocations.hold();
        try {
          const inuse = await symbolizer.symbolize(tables, this.deps.allocations, { ...window, fromNs: Math.min(oldestNs, window.fromNs), kind: 'inuse' });
          if (inuse.samples.stack.length > 0) others.push(inuse);
        } finally {
          release();
        }
      }
      // One symbolization; the baseline (before the condition held) is cut out of it.
      const heldSince = request.heldSinceMs;
      const splitNs = heldSince !== undefined ? (heldSince - fromMs) * 1e6 : 0;
      const baseline = splitNs > 0 ? sliceProfile(profile, 0, splitNs) : undefined;
      const trigger = splitNs > 0 ? sliceProfile(profile, splitNs, Infinity) : profile;
      // The idle share from the raw samples, while the window is still pinned.
      const idleOf = (fromNs: number, toNs: number): IdleShare | undefined =>
        measureIdleShare(tables, buffer, { fromNs, toNs, cpus: this.deps.cpus?.() ?? onlineCpus().length, frequency: window.frequency });
      const heldNs = window.fromNs + splitNs;
      const idle = {
        window: idleOf(window.fromNs, window.toNs),
        trigger: idleOf(splitNs > 0 ? heldNs : window.fromNs, window.toNs),
        baseline: splitNs > 0 ? idleOf(window.fromNs, heldNs) : undefined,
        included: includeIdle,
      };
      const scope = await this.scopeOf(capture, profile, others);
      const mainBinary = scope?.pid !== undefined ? binaries.get(scope.pid) : scope ? commonMainBinary([...scope.pids].map((pid) => binaries.get(pid))) : undefined;
      profiles = { profile, trigger, baseline: baseline && baseline.samples.stack.length > 0 ? baseline : undefined, others, idle, scope, mainBinary };
    } catch (error) {
      if (!final && isTransientStorageError(error) && this.withinRetryTime(capture)) {
        this.deps.onError?.(id, error as Error, true);
        this.scheduleRetry(id, capture);
        return undefined;
      }
      // The window cannot be made into a profile: keep the record (what fired, when, the metric
      // series) and say why there are no artifacts, rather than holding the window for ever.
      this.deps.onError?.(id, error as Error, false);
      this.releasePin(capture);
      const record = this.recordFor(id, request, fromMs, toMs, undefined);
      record.problems = [problemOf('profile', error)];
      return { record, files: [] };
    }
    this.releasePin(capture);
    const record = this.recordFor(id, request, fromMs, toMs, profiles.profile);
    if (profiles.others.length > 0) {
      const scoped = profiles.scope ? new Map([profiles.scope.profile, ...profiles.scope.others].map((p) => [p.kind, p.samples.stack.length])) : undefined;
      record.profiles = [profiles.profile, ...profiles.others].map((p) => ({
        kind: p.kind,
        unit: PROFILE_KINDS[p.kind].unit,
        samples: p.samples.stack.length,
        weight: totalWeight(p),
        ...(scoped ? { scope_samples: scoped.get(p.kind) ?? 0 } : {}),
      }));
    }
    const renderers = this.deps.renderers?.(profiles) ?? [...INCIDENT_RENDERERS, ...profiles.others.flatMap(kindRenderers)];
    const staged = await renderStaged(record, profiles, renderers);
    if (staged.first.problems.length > 0) record.problems = staged.first.problems;
    return { record, files: staged.first.files, rest: staged.rest };
  }

  /** Writes the incident; on failure retries (transient, in time) or writes it reduced. */
  private async write(id: string, capture: InFlight, record: IncidentRecord, files: IncidentFile[], final: boolean): Promise<void> {
    let failure: Error;
    try {
      const directory = await this.deps.store.write(record, files);
      this.done(id, capture, record, directory);
      const rest = capture.prepared?.rest;
      if (rest) this.complete(id, record, rest);
      return;
    } catch (error) {
      failure = error as Error;
    }
    if (!final && isTransientStorageError(failure) && this.withinRetryTime(capture)) {
      this.deps.onError?.(id, failure, true);
      this.scheduleRetry(id, capture);
      return;
    }
    this.deps.onError?.(id, failure, false);
    // Reduced: incident.json and the samples, the smallest write that loses nothing captured.
    const essential = files.filter(([name]) => ESSENTIAL_FILES.has(name));
    const dropped = [...files.filter(([name]) => !ESSENTIAL_FILES.has(name)).map(([name]) => name), ...(capture.prepared?.rest ? ['the other artifacts'] : [])];
    const reduced: IncidentRecord = {
      ...record,
      problems: [...(record.problems ?? []), { ...problemOf('artifacts', failure), error: `not written (${dropped.join(', ') || 'none'}): ${failure.message}` }],
    };
    try {
      const directory = await this.deps.store.write(reduced, essential);
      this.done(id, capture, reduced, directory);
    } catch (error) {
      this.drop(id, capture, error as Error);
    }
  }

  /**
   * Renders the artifacts a notification does not carry and adds them to the stored incident. One
   * attempt: what fails is named in the incident's problems (when the disk takes that) and logged;
   * nothing captured is lost, since samples.json.gz, stored first, is what they are rendered from.
   */
  private complete(id: string, record: IncidentRecord, rest: () => Promise<RenderedIncident>): void {
    const task = (async () => {
      let rendered: RenderedIncident;
      try {
        rendered = await rest();
      } catch (error) {
        rendered = { files: [], problems: [problemOf('artifacts', error)] };
      }
      try {
        await this.deps.store.addArtifacts(id, rendered.files, rendered.problems);
      } catch (error) {
        this.deps.onError?.(id, error as Error, false);
        const problem = { ...problemOf('artifacts', error), error: `not written (${rendered.files.map(([name]) => name).join(', ') || 'none'}): ${(error as Error).message}` };
        rendered = { files: [], problems: [...rendered.problems, problem] };
        await this.deps.store.addArtifacts(id, [], rendered.problems).catch(() => undefined);
      }
      this.deps.onCompleted?.(record, rendered.files.map(([name]) => name), rendered.problems);
    })();
    this.completing.add(task);
    void task.finally(() => this.completing.delete(task));
  }

  /**
   * What the rule watched, as profiles of its own: the process, or the processes of the cgroup
   * (as they were when it fired and are now). Undefined for the host, and when none of its
   * processes has samples of any kind in the window: the host-wide flamegraph is then the picture.
   */
  private async scopeOf(capture: InFlight, profile: SymbolizedProfile, others: readonly SymbolizedProfile[]): Promise<IncidentScope | undefined> {
    const instance = capture.request.instance;
    if (instance.kind === 'system') return undefined;
    let scope: Omit<IncidentScope, 'profile' | 'others'>;
    if (instance.kind === 'process') {
      scope = { kind: 'process', label: `${instance.comm} (pid ${instance.pid})`, pids: new Set([instance.pid]), pid: instance.pid };
    } else {
      const [atFiring, now] = await Promise.all([capture.members ?? Promise.resolve(new Set<number>()), this.membersOf(instance.path)]);
      scope = { kind: 'cgroup', label: instance.unit ?? instance.path, pids: new Set([...atFiring, ...now]), cgroup: instance.path, unit: instance.unit };
    }
    return scopeOfPids(scope, profile, others);
  }

  /** A cgroup's pids; an error reading them costs the incident its scoped picture, nothing else. */
  private membersOf(path: string): Promise<Set<number>> {
    return this.cgroupPids(path).catch(() => new Set<number>());
  }

  private withinRetryTime(capture: InFlight): boolean {
    const now = this.deps.clock.nowMs();
    capture.failingSinceMs ??= now;
    return now - capture.failingSinceMs < (this.deps.retryForMs ?? DEFAULT_RETRY_FOR_MS);
  }

  private scheduleRetry(id: string, capture: InFlight): void {
    const first = this.deps.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    const delay = Math.min(first * 2 ** Math.max(0, capture.attempts - 1), Math.max(first, MAX_RETRY_DELAY_MS));
    capture.timer = setTimeout(() => this.attempt(id), delay);
  }

  private done(id: string, capture: InFlight, record: IncidentRecord, directory: string): void {
    // A retry scheduled by an attempt that finishAll() waited for is moot now.
    if (capture.timer) clearTimeout(capture.timer);
    if (capture.warmTimer) clearTimeout(capture.warmTimer);
    this.inFlight.delete(id);
    this.releasePin(capture);
    this.deps.onStored?.(record, directory);
  }

  /** Not even the reduced incident could be written: count it and say so; nothing is held any more. */
  private drop(id: string, capture: InFlight, error: Error): void {
    if (capture.timer) clearTimeout(capture.timer);
    if (capture.warmTimer) clearTimeout(capture.warmTimer);
    this.inFlight.delete(id);
    this.releasePin(capture);
    this.lostCount++;
    this.deps.onLost?.(id, error);
  }

  private releasePin(capture: InFlight): void {
    capture.pin?.release();
    capture.pin = undefined;
  }

  private recordFor(id: string, request: CaptureRequest, fromMs: number, toMs: number, profile: SymbolizedProfile | undefined): IncidentRecord {
    const instance = request.instance;
    const heldSince = request.heldSinceMs;
    return {
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
      profile: profile
        ? { samples: profile.samples.stack.length, stacks: profile.stacks.length, processes: new Set(profile.stacks.map((s) => s.pid)).size, frequency: profile.frequency }
        : { samples: 0, stacks: 0, processes: 0, frequency: this.deps.frequency() },
      series: this.seriesFor(request, fromMs, toMs),
      notify: request.notify,
      notifications: request.notify.map((target) => ({ target, status: 'pending' })),
    };
  }

  private seriesFor(request: CaptureRequest, fromMs: number, toMs: number): MetricSeries[] {
    const source = this.deps.series;
    if (!source) return [];
    // The chart is worth less than the incident: a series that cannot be read is left empty.
    return request.metrics.map((metric) => {
      let points: Array<[number, number]> = [];
      try {
        points = source.series(metric, request.instance, fromMs, toMs);
      } catch {
        points = [];
      }
      return { metric, instance: request.instance, points };
    });
  }
}
