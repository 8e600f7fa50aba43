import type { Server } from 'node:http';
import { cpus as onlineCpus, hostname, release } from 'node:os';
import type { Logger } from 'pino';
import type { Notifications } from '../../notifiers/notifications.js';
import { MemoryBudget } from '../buffer/memory-budget.js';
import { RollingBuffer } from '../buffer/rolling-buffer.js';
import { loadConfig } from '../config/load-config.js';
import { MetricCollector } from '../metrics/metric-collector.js';
import { MetricHistory } from '../metrics/metric-history.js';
import type { Tail2Config } from '../model/config.js';
import type { DaemonStatus } from '../model/daemon-status.js';
import { instanceKey } from '../model/metrics.js';
import { ThrottledErrorLog } from '../model/throttled-error-log.js';
import { BatchIngest } from '../profile/batch-ingest.js';
import type { StackTables } from '../profile/sample-source.js';
import { createStackTables } from '../profile/stack-tables.js';
import { redactCommandLine } from '../redact/redact-command-line.js';
import { monotonicToWallMs } from '../sampler/stack-sampler.js';
import { IncidentStore } from '../store/incident-store.js';
import { ProcessFiles } from '../symbols/process-files.js';
import { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import { createHttpApp, listen } from '../web/http-server.js';
import { CaptureRequests } from './capture-requests.js';
import { DaemonMetrics } from './daemon-metrics.js';
import { HeapRelease } from './heap-release.js';
import { OwnUsage } from './own-usage.js';
import { preparePrivateStateDir } from './private-state-dir.js';
import { RuleRounds } from './rule-rounds.js';
import { sampledCpu } from '../profile/sampled-cpu.js';
import { Probing } from './probing.js';
import type { ProbedProfile } from '../model/profile-kind.js';
import type { ProbedProcess } from '../probes/user-probes.js';
import { Sampling } from './sampling.js';
import type { ProcessEvents } from '../model/process-events.js';
import { UnwindTables } from '../unwind/unwind-tables.js';
import { StatusReport } from './status-report.js';
import { TAIL2_VERSION } from './version.js';

/**
 * Unwind tables kept in tail2d's memory besides the kernel's copy and the disk cache: the loader
 * asks for a table only when the kernel does not hold its file, which the disk cache answers in a
 * read. 8 MiB here were 8 MB of an idle daemon's RSS (bench/RESULTS.md, "Memory").
 */
const UNWIND_TABLES_IN_MEMORY_BYTES = 2 * 1024 * 1024;

const wallToMonotonicNs = (wallMs: number): number => Number(process.hrtime.bigint()) - (Date.now() - wallMs) * 1e6;

/** tail2.yaml keys a SIGHUP cannot apply: they are read once, at the start. */
const RESTART_KEYS = ['sampling', 'buffer', 'stateDir', 'web', 'redis', 'rulesFile', 'redact', 'notifiers'] as const;

/**
 * tail2d: samples every CPU into the rolling buffer (sampling.ts), collects metrics every second
 * and evaluates the rules (rule-rounds.ts), turns firings and manual requests into incidents on
 * disk (capture-requests.ts), notifies, and serves the HTTP API and pages, which show what
 * status-report.ts assembles. This class wires the parts and owns their start and stop.
 *
 * Start order: rules (a bad file refuses the start) → state dir → incident store (reconciled) →
 * notifications (the outbox left by the last run goes out) → sampler → collectors → HTTP. A start
 * that fails cleans up after itself: before the store nothing runs; from the store on, start()
 * runs stop(), which stops what started, and throws.
 *
 * Stop order: collectors and retention → HTTP → captures in flight cut at now and written →
 * notifications (what they did not send waits in the outbox) → sampler detached → readers,
 * collectors and store closed.
 */
export class Tail2Daemon {
  private readonly tables: StackTables;
  /** Reads what profiled processes control (maps, binaries, perf maps) in tail2-reader processes. */
  private readonly files: ProcessFiles;
  private readonly unwindTables: UnwindTables;
  private readonly buffer: RollingBuffer;
  /** buffer.max_memory, for everything kept per sample and per process (memory-budget.ts). */
  private readonly budget: MemoryBudget;
  private readonly sampling: Sampling;
  /** The uprobe-based profiles: the allocation ledger, fed by the ingest, and the probes attached on demand. */
  private readonly probing: Probing;
  private readonly history: MetricHistory;
  private readonly collector: MetricCollector;
  private readonly rounds: RuleRounds;
  private readonly metrics: DaemonMetrics;
  private readonly ownUsage = new OwnUsage();
  /** A full GC after each capture, which the heap grew for (heap-release.ts). */
  private readonly heapRelease = new HeapRelease();
  private readonly report: StatusReport;
  /** Opened by start(), closed by stop(). */
  private store: IncidentStore | undefined;
  private notifications: Notifications | undefined;
  private captures: CaptureRequests | undefined;
  /** CPUs the sampler opened, once started. */
  private sampledCpus = onlineCpus().length;
  private server: Server | undefined;

  constructor(
    private readonly config: Tail2Config,
    private readonly log: Logger,
  ) {
    this.files = new ProcessFiles({
      ...config.symbols,
      redactCmdline: (raw) => redactCommandLine(raw, config.redact),
      onReaderRestart: (reason) => this.log.warn({ reason }, 'tail2-reader stopped and will be started again'),
    });
    this.tables = createStackTables((pid, startTimeNs) => this.files.snapshot(pid, startTimeNs), monotonicToWallMs);
    this.budget = new MemoryBudget(config.buffer.maxMemoryBytes);
    this.buffer = new RollingBuffer(this.tables, { retainNs: config.buffer.retainMs * 1e6, maxBytes: config.buffer.maxMemoryBytes, budget: this.budget, monotonicToWallMs });
    // Tables are loaded into the kernel once per file, so only a few are worth keeping in memory
    // besides: the disk cache serves a restart, and a file mapped again after its table was dropped.
    this.unwindTables = new UnwindTables({
      files: this.files,
      stateDir: config.stateDir,
      maxDiskBytes: config.symbols.maxUnwindCacheBytes,
      maxMemoryBytes: UNWIND_TABLES_IN_MEMORY_BYTES,
      onProblem: (message, err) => this.log.warn({ err }, message),
    });
    // The ingest tells the unwind tables of new, remapped and gone processes (sampling.ts forwards).
    const processEvents: ProcessEvents = {
      tablesWanted: (pid, startTimeNs, unknownMapping) => this.sampling.processEvents.tablesWanted(pid, startTimeNs, unknownMapping),
      gone: (pid, startTimeNs, timeNs) => {
        this.sampling.processEvents.gone(pid, startTimeNs, timeNs);
        this.probing.processGone(pid, timeNs);
      },
    };
    this.probing = new Probing({ config: config.sampling, maxOverhead: config.probes.maxOverhead, stacks: this.tables.stacks, files: this.files, log });
    this.sampling = new Sampling({
      config: config.sampling,
      ingest: new BatchIngest(this.tables, this.buffer, processEvents, this.probing.ledger, config.sampling.copies.meanBytes),
      buffer: this.buffer,
      unwind: { tables: this.unwindTables, snapshot: (pid, startTimeNs) => this.files.snapshot(pid, startTimeNs) },
      onIngested: () => this.rounds.samplesArrived(),
      onStopped: (reason) => this.probing.samplingStopped(reason),
      log,
    });
    this.history = new MetricHistory({ retentionMs: config.buffer.retainMs });
    // Command lines are read in tail2-reader and redacted there, before anything keeps them.
    this.collector = new MetricCollector({ history: this.history, cmdlineReader: (pid, startTicks) => this.files.cmdline(pid, startTicks) });
    this.budget.add(this.history);
    this.budget.add(this.collector);
    this.rounds = new RuleRounds({
      config,
      collector: this.collector,
      budget: this.budget,
      ownPids: () => this.ownPids(),
      onCollected: (nowMs, costMs) => {
        this.metrics.collectorRound(costMs / 1000);
        this.ownUsage.sample(nowMs);
        this.sampling.protectHost(this.ownUsage.current().cpu_percent_of_core / 100);
      },
      onRuleEvent: (event) => {
        this.probing.onRuleEvent(event);
        this.captures?.onRuleEvent(event);
      },
      onRules: (rules) => this.sampling.watchRules(rules),
      sampledCpu: (windowMs) => {
        // The newest samples may be a batch behind the clock: the window ends at the newest one.
        const newestNs = this.buffer.newestSampleNs;
        if (newestNs < Number(process.hrtime.bigint()) - windowMs * 1e6) return undefined; // none that recent (sampling stopped)
        return sampledCpu(this.tables, this.buffer, newestNs - windowMs * 1e6, newestNs + 1, this.sampling.frequency);
      },
      log,
    });
    this.report = new StatusReport({
      stateDir: config.stateDir,
      startedAtMs: Date.now(),
      sampling: this.sampling,
      buffer: this.buffer,
      tables: this.tables,
      budget: this.budget,
      files: this.files,
      unwindTables: this.unwindTables,
      rounds: this.rounds,
      ownUsage: this.ownUsage,
      ownPids: () => this.ownPids(),
      captures: () => this.captures,
      store: () => this.store,
      notifications: () => this.notifications,
      probes: (stats) => this.probing.status(stats),
    });
    this.metrics = new DaemonMetrics(() => this.report.gauges());
  }

  /** Starts everything in the order above; throws (and leaves nothing running) when any part cannot start. */
  async start(): Promise<void> {
    await this.rounds.load();
    const modes = await preparePrivateStateDir(this.config.stateDir);
    const octal = (mode: number) => `0${mode.toString(8)}`;
    if (modes.tightenedFrom !== undefined) this.log.warn({ stateDir: this.config.stateDir, was: octal(modes.tightenedFrom) }, 'state_dir let other users in: its mode is now 0700');
    if (modes.sharedMode !== undefined) {
      this.log.warn({ stateDir: this.config.stateDir, mode: octal(modes.sharedMode) }, 'state_dir lets other users in and is not tail2d’s own to change; give tail2d a directory of its own (what it writes inside is private either way)');
    }
    // Opening reconciles: half-written incidents from a crash are removed, unindexed ones indexed.
    const store = await IncidentStore.open(this.config.stateDir, {
      ...this.config.store,
      onProblem: (problem) => this.log.warn({ problem }, 'incident store repaired something'),
    });
    this.store = store;
    if (Object.values(store.reconciled).some((count) => count > 0)) this.log.info({ reconciled: store.reconciled }, 'incident store reconciled');
    let cpus: number;
    try {
      // Before sampling: notifications left in the outbox by the last run go out while we start.
      // Loaded only when a notifier is configured: BullMQ, ioredis, nodemailer and Slack's client
      // are some 12 MB of V8 heap that a daemon without notifiers would hold for nothing.
      if (Object.keys(this.config.notifiers).length > 0) {
        const { Notifications } = await import('../../notifiers/notifications.js');
        this.notifications = await Notifications.start(this.config, store, this.log, {
          onOutcome: (target, outcome) => this.metrics.notificationOutcome(target, outcome),
        });
      }
      this.captures = this.captureRequests(store);
      cpus = this.sampling.start();
      this.sampledCpus = cpus;
      this.probing.start((profile) => this.sampling.probeWriter(profile), (pid) => this.sampling.copySizes(pid));
      this.rounds.start();
      this.captures.start();
      this.server = await this.listen(store);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.log.info(
      { cpus, frequency: this.config.sampling.frequency, rules: this.rounds.count, listen: `${this.config.web.listen.host}:${this.config.web.listen.port}`, stateDir: this.config.stateDir },
      'tail2d started',
    );
  }

  /**
   * SIGHUP: reads tail2.yaml again and applies what can change live (incident retention,
   * capture.include_idle), says
   * which changed keys need a restart, then reloads the rules. A bad config or rules file keeps
   * what is in force and says why (log, /status).
   */
  async reload(): Promise<boolean> {
    try {
      const next = await loadConfig(this.config.file);
      this.store?.setLimits(next.store);
      this.config.store = next.store;
      this.config.capture = next.capture; // read at each capture
      const needRestart = RESTART_KEYS.filter((key) => JSON.stringify(next[key]) !== JSON.stringify(this.config[key]));
      if (needRestart.length > 0) this.log.warn({ keys: needRestart }, 'tail2.yaml changed settings that take effect at the next restart');
    } catch (error) {
      this.rounds.reloadFailed(error as Error);
      this.log.error({ err: error }, 'config reload failed; the running configuration stays in force');
      return false;
    }
    return this.rounds.reload();
  }

  /** Reads the rules again; a bad file keeps the rules in force and says why. */
  reloadRules(): Promise<boolean> {
    return this.rounds.reload();
  }

  /** A manual capture (tail2 capture, POST /api/capture); returns the incident id it will have. */
  captureNow(beforeMs: number, afterMs: number, reason: string): string {
    if (!this.captures) throw new Error('tail2d is not running: no capture can start');
    return this.captures.manual(beforeMs, afterMs, reason);
  }

  /**
   * Probes `pid` for `profile` for `forMs` (tail2 probe malloc|memcpy, POST /api/probes); rejects
   * with a ProbeError ("cannot probe malloc in PID N: …") when it cannot.
   */
  probe(profile: ProbedProfile, pid: number, forMs: number, reason: string, maxRequested?: number): Promise<ProbedProcess> {
    return this.probing.attach(profile, pid, forMs, reason, maxRequested);
  }

  /** Removes `pid`'s probes of `profile` (of every profile without); false when it had none. */
  unprobe(pid: number, profile?: ProbedProfile): boolean {
    return this.probing.detach(pid, profile);
  }

  /** Stops in the order above; in-flight captures are cut at now and written. Stops only what started. */
  async stop(): Promise<void> {
    // Timers first: no rule fires and no retention runs while the rest shuts down.
    this.rounds.stop();
    this.captures?.stop();
    this.heapRelease.cancel();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.captures?.finishAll();
    // After the captures: their notifications are in the outbox, sent by the next run if not now.
    await this.notifications?.stop();
    this.notifications = undefined;
    this.probing.stop();
    await this.sampling.stop();
    // Tables being written to the disk cache finish first: the next start reads them back.
    await this.unwindTables.flush();
    this.files.close();
    this.collector.close();
    this.store?.close();
    this.store = undefined;
    this.log.info({ incidents: this.captures?.writtenCount ?? 0 }, 'tail2d stopped');
  }

  /**
   * After an uncaught error (see last-resort.ts): the daemon's state is unknown, so only what
   * keeps captures is done. Timers stop, every capture in flight is cut at now and written, and the
   * sampler detaches. The web server and the queue are left to the exit; the daemon's own
   * redis-server is stopped by its exit hook.
   */
  async salvage(): Promise<void> {
    this.rounds.stop();
    this.captures?.stop();
    try {
      await this.captures?.finishAll();
    } finally {
      this.probing.stop();
      await this.sampling.stop();
    }
    this.log.info({ incidents: this.captures?.writtenCount ?? 0, lost: this.captures?.failures().lost ?? 0 }, 'captures in flight written after an uncaught error');
  }

  /** For systemd's watchdog (status-report.ts). */
  health(nowMs = Date.now()): { ok: boolean; reason?: string } {
    return this.report.health(nowMs);
  }

  /** One line for systemd's STATUS=. */
  summaryLine(): string {
    return this.report.summaryLine();
  }

  /** What GET /api/status and `tail2 status` show. */
  status(): DaemonStatus {
    return this.report.status();
  }

  private captureRequests(store: IncidentStore): CaptureRequests {
    return new CaptureRequests({
      store,
      buffer: this.buffer,
      tables: this.tables,
      symbolizer: new ProfileSymbolizer(this.files),
      allocations: this.probing.ledger,
      frequency: () => this.sampling.frequency,
      cpus: () => this.sampledCpus,
      includeIdle: () => this.config.capture.includeIdle,
      flush: () => this.sampling.flush(),
      series: {
        series: (metric, instance, fromMs, toMs) => this.history.series(metric, instanceKey(instance), fromMs, toMs).map((p): [number, number] => [p.timeMs, p.value]),
      },
      host: { name: hostname(), kernel: release(), version: TAIL2_VERSION },
      clock: { nowMs: () => Date.now(), wallToMonotonicNs, monotonicToWallMs },
      onStored: () => {
        this.notifications?.incidentStored();
        this.heapRelease.afterCapture();
      },
      metrics: this.metrics,
      log: this.log,
    });
  }

  private listen(store: IncidentStore): Promise<Server> {
    const app = createHttpApp({
      store,
      token: this.config.web.token,
      healthy: () => this.sampling.error === undefined,
      status: () => this.report.status(),
      rules: () => this.rounds.states(),
      capture: (request) => this.captureNow(request.beforeMs, request.afterMs, request.reason),
      probe: (request) => this.probe(request.profile, request.pid, request.forMs, request.reason, request.maxRequested),
      unprobe: (pid, profile) => this.unprobe(pid, profile),
      metrics: () => this.metrics.scrape(),
      host: hostname(),
      version: TAIL2_VERSION,
      publicUrl: this.config.web.publicUrl,
      onError: (error) => this.log.error({ err: error }, 'an HTTP request failed'),
    });
    const serverErrors = new ThrottledErrorLog(this.log, 'the web server failed to accept a connection');
    return listen(app, this.config.web.listen.host, this.config.web.listen.port, (error) => serverErrors.failed(error));
  }

  /** tail2d's own processes: itself and the redis-server it runs. */
  private ownPids(): Set<number> {
    const pids = new Set([process.pid]);
    const redisPid = this.notifications?.redisPid();
    if (redisPid) pids.add(redisPid);
    return pids;
  }
}
