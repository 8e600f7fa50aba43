import type { Server } from 'node:http';
import { hostname, release } from 'node:os';
import type { Logger } from 'pino';
import { loadRulesFile } from '../../triggers/rules-file.js';
import { RuleEngine, type RuleEvent } from '../../triggers/rule-engine.js';
import type { Rule } from '../model/rule.js';
import type { DaemonStatus, RulesReload, RulesStatus } from '../model/daemon-status.js';
import { Notifications } from '../../notifiers/notifications.js';
import { MemoryBudget } from '../buffer/memory-budget.js';
import { RollingBuffer } from '../buffer/rolling-buffer.js';
import { CaptureManager, type CaptureRequest } from '../capture/capture-manager.js';
import { IncidentStore } from '../store/incident-store.js';
import type { Tail2Config } from '../model/config.js';
import { loadConfig } from '../config/load-config.js';
import { MetricCollector, type ScopedUnavailableMetric } from '../metrics/metric-collector.js';
import { MetricHistory } from '../metrics/metric-history.js';
import { instanceKey } from '../model/metrics.js';
import { BatchIngest } from '../profile/batch-ingest.js';
import type { StackTables } from '../profile/sample-source.js';
import { createStackTables } from '../profile/stack-tables.js';
import { StackSampler, monotonicToWallMs } from '../sampler/stack-sampler.js';
import { redactCommandLine } from '../redact/redact-command-line.js';
import { ProcessFiles } from '../symbols/process-files.js';
import { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import { createHttpApp, listen } from '../web/http-server.js';
import { DaemonMetrics, type DaemonGauges } from './daemon-metrics.js';
import { OwnUsage } from './own-usage.js';
import { preparePrivateStateDir } from './private-state-dir.js';
import { CpuBackoff } from './cpu-backoff.js';
import { ThrottledErrorLog } from '../model/throttled-error-log.js';
import { TAIL2_VERSION } from './version.js';
import { watchdogHealth } from './watchdog-health.js';

const COLLECT_INTERVAL_MS = 1000;

const wallToMonotonicNs = (wallMs: number): number => Number(process.hrtime.bigint()) - (Date.now() - wallMs) * 1e6;

/**
 * tail2d: samples every CPU into the rolling buffer, collects metrics every second, evaluates the
 * rules, and turns firings and manual requests into incidents on disk; serves the HTTP API.
 *
 * Start order: rules (refuse to start on a bad file) → state dir → sampler → collectors → HTTP.
 * Stop order: HTTP → collectors → in-flight captures written → sampler detached.
 */
export class Tail2Daemon {
  private readonly tables: StackTables;
  /** Reads what profiled processes control (maps, binaries, perf maps) in tail2-reader processes. */
  private readonly files: ProcessFiles;
  private readonly buffer: RollingBuffer;
  /** buffer.max_memory, for everything kept per sample and per process (memory-budget.ts). */
  private readonly budget: MemoryBudget;
  private readonly ingest: BatchIngest;
  private sampler: StackSampler;
  private readonly cpuBackoff: CpuBackoff;
  /** Set while sampling runs below the configured frequency to protect the host. */
  private frequencyBackoff: { frequency: number; since: string; reason: string } | null = null;
  /** Totals of samplers replaced by a frequency change, so counters never go back. */
  private retiredSamplerTotals = { samples: 0, lost: 0, droppedInUserspace: 0 };
  private changingFrequency = false;
  private stopping = false;
  private redisDownSinceMs: number | undefined;
  private readonly history: MetricHistory;
  private readonly collector: MetricCollector;
  private readonly captures: CaptureManager;
  private engine: RuleEngine | undefined;
  private rules: Rule[] = [];
  private timer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private store: IncidentStore | undefined;
  private server: Server | undefined;
  private notifications: Notifications | undefined;
  private unavailable: ScopedUnavailableMetric[] = [];
  private lastCollectMs = 0;
  private lastCollectCostMs = 0;
  private lastReload: RulesReload | undefined;
  private incidentsWritten = 0;
  private incidentsDegraded = 0;
  private lastCaptureError: string | undefined;
  private readonly startedAtMs = Date.now();
  private samplingError: string | undefined;
  private batchFailures = 0;
  private collectFailures = 0;
  private readonly metrics: DaemonMetrics;
  private readonly ownUsage = new OwnUsage();

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
    this.ingest = new BatchIngest(this.tables, this.buffer);
    this.sampler = this.createSampler(config.sampling.frequency);
    this.cpuBackoff = new CpuBackoff(config.sampling.frequency, config.sampling.maxCpu);
    this.history = new MetricHistory({ retentionMs: config.buffer.retainMs });
    // Command lines are read in tail2-reader and redacted there, before anything keeps them.
    this.collector = new MetricCollector({ history: this.history, cmdlineReader: (pid, startTicks) => this.files.cmdline(pid, startTicks) });
    this.budget.add(this.history);
    this.budget.add(this.collector);
    this.metrics = new DaemonMetrics(() => this.gauges());
    this.captures = new CaptureManager({
      persister: {
        persist: async (record, files) => {
          const store = this.requireStore();
          const directory = await store.write(record, files);
          // The incident's notifications were stored with it (the outbox); now queue them.
          this.notifications?.incidentStored();
          void this.enforceRetention();
          return directory;
        },
      },
      buffer: this.buffer,
      tables: this.tables,
      symbolizer: new ProfileSymbolizer(this.files),
      frequency: () => this.sampler.frequency,
      host: { name: hostname(), kernel: release(), version: TAIL2_VERSION },
      clock: { nowMs: () => Date.now(), wallToMonotonicNs, monotonicToWallMs },
      flush: () => this.sampler.flush(),
      series: {
        series: (metric, instance, fromMs, toMs) => this.history.series(metric, instanceKey(instance), fromMs, toMs).map((p): [number, number] => [p.timeMs, p.value]),
      },
      onIncident: (record, directory) => {
        this.incidentsWritten++;
        // From the end of the capture window to the incident on disk: symbolize, render, write.
        this.metrics.incidentWritten(record.rule, Math.max(0, Date.now() - Date.parse(record.window.to)) / 1000);
        if (record.problems) {
          this.incidentsDegraded++;
          this.log.warn({ incident: record.id, rule: record.rule, directory, samples: record.profile.samples, problems: record.problems }, 'incident written without some of its parts');
        } else {
          this.log.info({ incident: record.id, rule: record.rule, directory, samples: record.profile.samples }, 'incident written');
        }
      },
      onError: (id, error, willRetry) => {
        this.lastCaptureError = `${id}: ${error.message}`;
        this.log.error({ incident: id, err: error, willRetry }, willRetry ? 'writing the incident failed; retrying' : 'writing the incident failed; writing what can be written');
      },
      onLost: (id, error) => {
        this.lastCaptureError = `${id}: lost: ${error.message}`;
        this.log.fatal({ incident: id, err: error, lost: this.captures.lost() }, 'an incident could not be written at all and is lost');
      },
    });
  }

  /** Starts everything; throws (and leaves nothing running) when any part cannot start. */
  async start(): Promise<void> {
    this.rules = await this.loadRules();
    this.engine = new RuleEngine(this.rules, this.collector.hostFacts());
    this.budget.add(this.engine);
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
    try {
      // Before sampling: notifications left in the outbox by the last run go out while we start.
      this.notifications = await Notifications.start(this.config, store, this.log, {
        onOutcome: (target, outcome) => this.metrics.notificationOutcome(target, outcome),
      });
    } catch (error) {
      store.close();
      this.store = undefined;
      throw error;
    }
    let cpus: number;
    try {
      cpus = this.sampler.start();
    } catch (error) {
      await this.stop();
      throw error;
    }
    try {
      this.collector.collect(Date.now()); // baselines for the rates
      this.timer = setInterval(() => this.tick(), COLLECT_INTERVAL_MS);
      // Age limits expire on their own, not only when a new incident arrives.
      this.retentionTimer = setInterval(() => void this.enforceRetention(), 60_000);
      const app = createHttpApp({
        store,
        token: this.config.web.token,
        healthy: () => this.samplingError === undefined,
        status: () => this.status(),
        rules: () => this.engine?.states() ?? [],
        capture: (request) => this.captureNow(request.beforeMs, request.afterMs, request.reason),
        metrics: () => this.metrics.scrape(),
        host: hostname(),
        version: TAIL2_VERSION,
        publicUrl: this.config.web.publicUrl,
        onError: (error) => this.log.error({ err: error }, 'an HTTP request failed'),
      });
      const serverErrors = new ThrottledErrorLog(this.log, 'the web server failed to accept a connection');
      this.server = await listen(app, this.config.web.listen.host, this.config.web.listen.port, (error) => serverErrors.failed(error));
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.log.info(
      { cpus, frequency: this.config.sampling.frequency, rules: this.rules.length, listen: `${this.config.web.listen.host}:${this.config.web.listen.port}`, stateDir: this.config.stateDir },
      'tail2d started',
    );
  }

  /**
   * SIGHUP: reads tail2.yaml again and applies what can change live (incident retention), says
   * which changed keys need a restart, then reloads the rules. A bad config or rules file keeps
   * what is in force and says why (log, /status).
   */
  async reload(): Promise<boolean> {
    try {
      const next = await loadConfig(this.config.file);
      this.store?.setLimits(next.store);
      this.config.store = next.store;
      const needRestart = (['sampling', 'buffer', 'stateDir', 'web', 'redis', 'rulesFile', 'redact', 'notifiers'] as const).filter(
        (key) => JSON.stringify(next[key]) !== JSON.stringify(this.config[key]),
      );
      if (needRestart.length > 0) this.log.warn({ keys: needRestart }, 'tail2.yaml changed settings that take effect at the next restart');
    } catch (error) {
      this.lastReload = { at_ms: Date.now(), ok: false, error: (error as Error).message };
      this.log.error({ err: error }, 'config reload failed; the running configuration stays in force');
      return false;
    }
    return this.reloadRules();
  }

  /** Reads the rules again; a bad file keeps the rules in force and says why. */
  async reloadRules(): Promise<boolean> {
    try {
      const rules = await this.loadRules();
      this.engine?.replaceRules(rules);
      this.rules = rules;
      this.lastReload = { at_ms: Date.now(), ok: true };
      this.log.info({ rules: rules.length }, 'rules reloaded');
      return true;
    } catch (error) {
      this.lastReload = { at_ms: Date.now(), ok: false, error: (error as Error).message };
      this.log.error({ err: error }, 'rules reload failed; the previous rules stay in force');
      return false;
    }
  }

  /** A manual capture (tail2 capture, POST /api/capture). */
  captureNow(beforeMs: number, afterMs: number, reason: string): string {
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
    this.log.info({ incident: id, reason, beforeMs, afterMs }, 'manual capture started');
    return id;
  }

  /** Stops in order; in-flight captures are cut at now and written. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.timer = undefined;
    this.retentionTimer = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.captures.finishAll();
    // After the captures: their notifications are in the outbox, sent by the next run if not now.
    await this.notifications?.stop();
    this.notifications = undefined;
    await this.sampler.stop();
    this.files.close();
    this.collector.close();
    this.store?.close();
    this.store = undefined;
    this.log.info({ incidents: this.incidentsWritten }, 'tail2d stopped');
  }

  /**
   * After an uncaught error (see last-resort.ts): the daemon's state is unknown, so only what
   * keeps captures is done. Timers stop, every capture in flight is cut at now and written, and the
   * sampler detaches. The web server and the queue are left to the exit; the daemon's own
   * redis-server is stopped by its exit hook.
   */
  async salvage(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.timer = undefined;
    this.retentionTimer = undefined;
    try {
      await this.captures.finishAll();
    } finally {
      await this.sampler.stop();
    }
    this.log.info({ incidents: this.incidentsWritten, lost: this.captures.lost() }, 'captures in flight written after an uncaught error');
  }

  /** For systemd's watchdog; see {@link watchdogHealth}. */
  health(nowMs = Date.now()): { ok: boolean; reason?: string } {
    const redis = this.notifications?.status().redis;
    if (!redis || redis.reachable) this.redisDownSinceMs = undefined;
    else this.redisDownSinceMs ??= nowMs;
    return watchdogHealth({ samplingError: this.samplingError, redis, redisDownSinceMs: this.redisDownSinceMs, capturesInFlight: this.captures.pending().length, nowMs });
  }

  /** One line for systemd's STATUS=. */
  summaryLine(): string {
    const stats = this.sampler.stats();
    const firing = (this.engine?.states() ?? []).reduce((n, view) => n + view.instances.filter((i) => i.state === 'firing' || i.state === 'pending').length, 0);
    const span = Math.round(this.buffer.stats().spanNs / 1e9);
    return `sampling ${stats?.cpus ?? 0} CPUs at ${this.sampler.frequency} Hz, ${span} s buffered; ${this.rules.length} rules (${firing} pending or firing); ${this.incidentsWritten} incidents written`;
  }

  /** What GET /api/status and `tail2 status` show. */
  status(): DaemonStatus {
    const sampler = this.samplerTotals();
    const buffer = this.buffer.stats();
    return {
      version: TAIL2_VERSION,
      host: hostname(),
      uptime_s: Math.round((Date.now() - this.startedAtMs) / 1000),
      sampler: {
        running: this.samplingError === undefined,
        error: this.samplingError ?? null,
        frequency: this.sampler.frequency,
        configured_frequency: this.config.sampling.frequency,
        max_cpu_percent_of_core: this.config.sampling.maxCpu * 100,
        backoff: this.frequencyBackoff,
        cpus: sampler.cpus,
        samples: sampler.samples,
        lost: sampler.lost,
        dropped_in_userspace: sampler.droppedInUserspace,
        failed_batches: this.batchFailures,
      },
      buffer: {
        samples: buffer.samples,
        span_s: buffer.spanNs / 1e9,
        bytes: buffer.bytes,
        max_bytes: buffer.maxBytes,
        expired_samples: buffer.expiredSamples,
        evicted_early_samples: buffer.evictedEarlySamples,
        dropped_samples: buffer.droppedSamples,
        stacks: this.tables.stacks.size,
        processes: this.tables.processes.size,
      },
      metrics: {
        last_collect: this.lastCollectMs ? new Date(this.lastCollectMs).toISOString() : null,
        cost_ms: this.lastCollectCostMs,
        unavailable: this.unavailable,
      },
      rules: { count: this.rules.length, file: this.config.rulesFile, last_reload: this.lastReload ?? null, unavailable: this.rulesWithoutData() },
      captures: { in_flight: this.captures.pending(), written: this.incidentsWritten, degraded: this.incidentsDegraded, lost: this.captures.lost(), last_error: this.lastCaptureError ?? null },
      self: { pid: process.pid, ...this.ownUsage.current(), excluded_from_rules: [...this.ownPids()] },
      memory: { ...this.budget.stats(), rss_bytes: process.memoryUsage.rss(), heap_used_bytes: process.memoryUsage().heapUsed },
      symbols: this.files.status(),
      store: this.store?.stats() ?? null,
      notifications: this.notifications?.status() ?? { enabled: false, reason: 'no notifiers configured in tail2.yaml' },
      state_dir: this.config.stateDir,
    };
  }

  /** Sampler totals since the daemon started, across frequency changes. */
  private samplerTotals(): { samples: number; lost: number; droppedInUserspace: number; cpus: number } {
    const stats = this.sampler.stats();
    const retired = this.retiredSamplerTotals;
    return {
      samples: retired.samples + (stats?.samples ?? 0),
      lost: retired.lost + (stats?.lost ?? 0),
      droppedInUserspace: retired.droppedInUserspace + (stats?.droppedInUserspace ?? 0),
      cpus: stats?.cpus ?? 0,
    };
  }

  /** Self-protection: slows sampling down while tail2d itself uses more CPU than sampling.max_cpu. */
  private protectHost(): void {
    if (this.changingFrequency || this.samplingError !== undefined) return;
    const decision = this.cpuBackoff.observe(this.ownUsage.current().cpu_percent_of_core / 100, this.sampler.frequency);
    if (decision.change === 'none') return;
    void this.changeFrequency(decision.frequency, decision.change, decision.reason);
  }

  /**
   * Replaces the sampler with one at `frequency`. The buffer and every capture in flight stay; the
   * handover loses at most the batch in the old sampler's ring (it is flushed first).
   */
  private async changeFrequency(frequency: number, change: 'lower' | 'restore', reason: string): Promise<void> {
    this.changingFrequency = true;
    const from = this.sampler.frequency;
    try {
      const old = this.sampler;
      await old.flush().catch(() => undefined);
      await old.stop();
      const stats = old.stats();
      this.retiredSamplerTotals.samples += stats?.samples ?? 0;
      this.retiredSamplerTotals.lost += stats?.lost ?? 0;
      this.retiredSamplerTotals.droppedInUserspace += stats?.droppedInUserspace ?? 0;
      // Shutdown began while the old sampler stopped: attaching a new one now would outlive it.
      if (this.stopping) return;
      this.sampler = this.createSampler(frequency);
      this.sampler.start();
      this.frequencyBackoff = frequency < this.config.sampling.frequency ? { frequency, since: new Date().toISOString(), reason } : null;
      this.log.warn({ from, to: frequency, reason }, change === 'lower' ? 'sampling slowed down to protect the host' : 'sampling back up');
    } catch (error) {
      this.samplingError = `changing the sampling frequency to ${frequency} Hz failed: ${(error as Error).message}`;
      this.log.error({ err: error, from, to: frequency }, 'changing the sampling frequency failed; sampling stopped');
    } finally {
      this.changingFrequency = false;
    }
  }

  private createSampler(frequency: number): StackSampler {
    return new StackSampler({
      frequency,
      onBatch: (batch) => {
        // A throw here would surface as an uncaught exception from the native callback and take
        // the daemon down with every pinned capture: report it and drop this batch instead.
        try {
          this.ingest.ingest(batch);
          this.buffer.enforceBounds();
        } catch (error) {
          this.batchFailures++;
          if (this.batchFailures === 1 || this.batchFailures % 100 === 0) {
            this.log.error({ err: error, failures: this.batchFailures }, 'ingesting a sample batch failed; the batch was dropped');
          }
        }
      },
      onError: (error) => {
        this.samplingError = error.message;
        this.log.error({ err: error }, 'sampling stopped');
      },
    });
  }

  /** tail2d's own processes: itself and the redis-server it runs. */
  private ownPids(): Set<number> {
    const pids = new Set([process.pid]);
    const redisPid = this.notifications?.redisPid();
    if (redisPid) pids.add(redisPid);
    return pids;
  }

  /** What /metrics reads at scrape time. */
  private gauges(): DaemonGauges {
    const sampler = this.samplerTotals();
    const buffer = this.buffer.stats();
    const store = this.store?.stats();
    const notifications = this.notifications?.status();
    return {
      sampler: {
        samples: sampler.samples,
        lost: sampler.lost,
        droppedInUserspace: sampler.droppedInUserspace,
        failedBatches: this.batchFailures,
        frequency: this.sampler.frequency,
        cpus: sampler.cpus,
        running: this.samplingError === undefined,
      },
      buffer: { spanSeconds: buffer.spanNs / 1e9, bytes: buffer.bytes, maxBytes: buffer.maxBytes, samples: buffer.samples, expiredSamples: buffer.expiredSamples, evictedEarlySamples: buffer.evictedEarlySamples },
      rules: this.engine?.states() ?? [],
      capturesInFlight: this.captures.pending().length,
      incidentsDegraded: this.incidentsDegraded,
      incidentsLost: this.captures.lost(),
      store: store ? { incidents: store.incidents, bytes: store.bytes } : null,
      notifications: notifications ? { redisUp: notifications.redis.reachable, outbox: notifications.outbox, targets: notifications.targets } : null,
    };
  }

  private requireStore(): IncidentStore {
    if (!this.store) throw new Error('the incident store is closed');
    return this.store;
  }

  private async enforceRetention(): Promise<void> {
    try {
      const result = await this.store?.enforceRetention();
      if (result && result.deleted.length > 0) this.log.info({ deleted: result.deleted.length }, 'incident retention');
    } catch (error) {
      this.log.error({ err: error }, 'incident retention failed');
    }
  }

  /** Rules that cannot fire on this host because their metric is unavailable for their scope. */
  private rulesWithoutData(): RulesStatus['unavailable'] {
    const scopeKind = (rule: Rule): 'system' | 'process' | 'cgroup' =>
      rule.scope.kind === 'system' ? 'system' : rule.scope.kind === 'process' || rule.scope.kind === 'pid' ? 'process' : 'cgroup';
    const affected: RulesStatus['unavailable'] = [];
    for (const rule of this.rules) {
      const missing = this.unavailable.find((u) => u.metric === rule.metric && (u.scope === undefined || u.scope === scopeKind(rule)));
      if (missing) affected.push({ rule: rule.name, metric: rule.metric, reason: missing.reason });
    }
    return affected;
  }

  private async loadRules(): Promise<Rule[]> {
    return loadRulesFile(this.config.rulesFile, { notifiers: new Set(Object.keys(this.config.notifiers)) });
  }

  private tick(): void {
    const now = Date.now();
    try {
      const result = this.collector.collect(now);
      this.lastCollectMs = now;
      this.lastCollectCostMs = result.costMs;
      this.metrics.collectorRound(result.costMs / 1000);
      this.ownUsage.sample(now);
      this.protectHost();
      this.unavailable = result.unavailable;
      // tail2d and its own redis-server are never an incident of their own rules: a profiler that
      // profiles itself into an incident storm is the last thing a host needs at 3am.
      const own = this.ownPids();
      const readings = result.readings.filter((r) => r.instance.kind !== 'process' || !own.has(r.instance.pid));
      const events = this.engine?.evaluate(readings, now) ?? [];
      // New processes' history and rule instances count against the same budget as the samples.
      this.budget.makeRoom();
      for (const event of events) this.onRuleEvent(event);
    } catch (error) {
      // Once a minute at most: a collector that keeps failing must not write a line a second.
      this.collectFailures++;
      if (this.collectFailures === 1 || this.collectFailures % 60 === 0) this.log.error({ err: error, failures: this.collectFailures }, 'metric collection failed');
    }
  }

  private onRuleEvent(event: RuleEvent): void {
    const fields = { rule: event.rule.name, instance: instanceKey(event.instance), value: event.value, threshold: event.threshold };
    if (event.type !== 'firing') {
      this.log.debug({ ...fields, reason: event.reason }, `rule ${event.type}`);
      return;
    }
    const { rule } = event;
    const request: CaptureRequest = {
      rule: rule.name,
      trigger: { kind: 'rule', metric: rule.metric, comparison: rule.comparison, value: event.value, threshold: event.threshold, thresholdText: rule.threshold.text, forMs: rule.forMs },
      instance: event.instance,
      atMs: event.atMs,
      beforeMs: rule.capture.beforeMs,
      afterMs: rule.capture.afterMs,
      notify: rule.notify,
      metrics: [rule.metric],
      heldSinceMs: event.heldSinceMs,
    };
    const id = this.captures.start(request);
    this.log.warn({ ...fields, incident: id }, 'rule fired: capturing');
  }
}
