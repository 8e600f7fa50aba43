import type { Logger } from 'pino';
import type { MemoryBudget } from '../buffer/memory-budget.js';
import type { MetricCollector, ScopedUnavailableMetric } from '../metrics/metric-collector.js';
import type { Tail2Config } from '../model/config.js';
import type { MetricsStatus, RulesReload, RulesStatus } from '../model/daemon-status.js';
import type { MetricReading } from '../model/metrics.js';
import type { RuleStateView } from '../model/rule-state.js';
import type { Rule } from '../model/rule.js';
import type { SampledCpu } from '../profile/sampled-cpu.js';
import { EarlyRounds } from './early-rounds.js';
import { RuleEngine, type RuleEvent } from '../../triggers/rule-engine.js';
import { loadRulesFile } from '../../triggers/rules-file.js';

/**
 * The evaluation interval: the cadence of every metric and rule, and the interval each reading
 * covers (a rate is over the last round, never a lifetime average). A condition is seen in the
 * first round that ends after it holds: a process already running that starts to spin above a
 * threshold θ (a share of the interval) is pending within (1 + θ) rounds; a new process within
 * two (first sight, then its first interval).
 *
 * Every round reads every process, so the interval is also most of what tail2d costs a host that
 * runs many: measured with 1,000 processes, every CPU busy (bench daemon), 0.77% of a core per
 * sampled CPU at 1 s, 1.07% at 500 ms, 1.37% at 250 ms, against perf record's ~0.6%. One second
 * is kept: a spinning process is pending within 1–2 s (500 ms would make it ≤ 1 s at the cost above).
 */
export const EVALUATION_INTERVAL_MS = 1000;
/** Rounds per second on the cadence: collection failures are logged once a minute's worth of them. */
const ROUNDS_PER_SECOND = Math.round(1000 / EVALUATION_INTERVAL_MS);
/**
 * Early rounds allowed per evaluation interval (a rise and its follow-up): whatever the samples
 * show, rounds cost at most this many times more than on the cadence alone.
 */
const MAX_EARLY_ROUNDS_PER_INTERVAL = 2;
/** The closest an early round comes to the round before it. */
const EARLY_MIN_GAP_MS = 200;
/** When the round that follows a rise caught part-way runs: a rate over a quarter second is still a steady one. */
const FOLLOW_UP_MS = 250;
/** The stretch of samples an early check estimates CPU from (longer: less noise; shorter: sooner). */
const EARLY_WINDOW_MS = 500;

export interface RuleRoundsOptions {
  /** `rules_file`, and the notifier names a rule's `notify` may use. */
  config: Pick<Tail2Config, 'rulesFile' | 'notifiers'>;
  collector: MetricCollector;
  /** The rule engine's instances count against `buffer.max_memory`. */
  budget: MemoryBudget;
  /** tail2d's own processes (itself, its redis-server): never an instance of its rules. */
  ownPids: () => Set<number>;
  /**
   * About once a second (the first round at least 0.9 s after the last call), after that round's
   * collection, before its rules: `costMs` is what the collections since the last call took
   * together (the collectors' cost per second, early rounds included).
   */
  onCollected: (nowMs: number, costMs: number) => void;
  /** Every event of the rules (pending, firing, suppressed, cleared, resolved). */
  onRuleEvent: (event: RuleEvent) => void;
  /**
   * The CPU the samples of the last `windowMs` show (daemon/profile/sampled-cpu.ts); undefined
   * when there are none that recent. Without it, rounds run only on their cadence.
   */
  sampledCpu?: (windowMs: number) => SampledCpu | undefined;
  log: Logger;
}

/** `readings` without those of the processes in `own`, compacted in place (a round's readings are thousands: no copy). */
function withoutOwnProcesses(readings: MetricReading[], own: Set<number>): MetricReading[] {
  let kept = 0;
  for (const reading of readings) {
    if (reading.instance.kind === 'process' && own.has(reading.instance.pid)) continue;
    readings[kept++] = reading;
  }
  readings.length = kept;
  return readings;
}

/**
 * The rules and the rounds that feed them: loads the rules file (a bad one refuses the start, and
 * on reload keeps the rules in force), collects the metrics every evaluation interval
 * ({@link EVALUATION_INTERVAL_MS}), evaluates the rules on the readings and hands their events on.
 */
export class RuleRounds {
  private engine: RuleEngine | undefined;
  private rules: Rule[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private unavailable: ScopedUnavailableMetric[] = [];
  private lastCollectMs = 0;
  private lastCollectCostMs = 0;
  /** performance.now() of the last onCollected call, and what the collections since cost. */
  private lastOnCollectedMono = 0;
  private costThisSecondMs = 0;
  /** performance.now() of the recent early rounds, oldest first (at most MAX_EARLY_ROUNDS_PER_INTERVAL). */
  private recentEarlyRounds: number[] = [];
  private lastReload: RulesReload | undefined;
  private collectFailures = 0;
  private early: EarlyRounds | undefined;
  private followUpTimer: NodeJS.Timeout | undefined;
  private deferredCheck: NodeJS.Timeout | undefined;
  private earlyRounds = 0;
  /** performance.now() of the last round. */
  private lastRoundMono = 0;

  constructor(private readonly options: RuleRoundsOptions) {}

  /** Reads the rules file and sets the engine up. @throws RulesFileError on a bad file: the daemon must not start. */
  async load(): Promise<void> {
    const { collector, budget } = this.options;
    this.rules = await this.readRules();
    this.engine = new RuleEngine(this.rules, collector.hostFacts());
    this.early = new EarlyRounds(this.rules, collector.hostFacts());
    budget.add(this.engine);
  }

  /**
   * Takes the baselines for the rates, then runs a round every evaluation interval, and one
   * sooner when the CPU samples show a rise towards a cpu rule (see samplesArrived).
   */
  start(): void {
    this.options.collector.collect(Date.now());
    this.lastRoundMono = performance.now();
    this.lastOnCollectedMono = this.lastRoundMono;
    this.stopped = false;
    this.schedule(performance.now() + EVALUATION_INTERVAL_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.followUpTimer) clearTimeout(this.followUpTimer);
    if (this.deferredCheck) clearTimeout(this.deferredCheck);
    this.timer = undefined;
    this.followUpTimer = undefined;
    this.deferredCheck = undefined;
  }

  /**
   * New samples are in the buffer (tail2d calls it after each batch): a round now if they show a
   * rise towards a cpu rule (early-rounds.ts), and the cadence restarts from it.
   */
  samplesArrived(): void {
    const { sampledCpu } = this.options;
    if (this.stopped || !sampledCpu || !this.early?.watching || this.followUpTimer || this.deferredCheck) return;
    const sinceRoundMs = performance.now() - this.lastRoundMono;
    if (sinceRoundMs < EARLY_MIN_GAP_MS) {
      // Too soon after a round: look at these samples once the gap is there, rather than wait for
      // the next batch (half a second more).
      this.deferredCheck = setTimeout(() => {
        this.deferredCheck = undefined;
        this.samplesArrived();
      }, EARLY_MIN_GAP_MS - sinceRoundMs);
      return;
    }
    const now = performance.now();
    if (this.recentEarlyRounds.length >= MAX_EARLY_ROUNDS_PER_INTERVAL && now - this.recentEarlyRounds[0] < EVALUATION_INTERVAL_MS) return;
    try {
      const sampled = sampledCpu(EARLY_WINDOW_MS);
      if (!sampled || !this.early.due(sampled, this.options.ownPids())) return;
    } catch (error) {
      this.options.log.error({ err: error }, 'reading the CPU samples for an early round failed');
      return;
    }
    this.earlyRound();
  }

  // A round now, out of the cadence, which restarts from it; and the one that follows a rise
  // caught part-way (EarlyRounds.followUpWanted), a moment later.
  private earlyRound(): void {
    if (this.timer) clearTimeout(this.timer);
    this.earlyRounds++;
    this.recentEarlyRounds.push(performance.now());
    if (this.recentEarlyRounds.length > MAX_EARLY_ROUNDS_PER_INTERVAL) this.recentEarlyRounds.shift();
    this.round(true);
    this.schedule(performance.now() + EVALUATION_INTERVAL_MS);
    if (this.early?.followUpWanted()) {
      this.followUpTimer = setTimeout(() => {
        this.followUpTimer = undefined;
        if (!this.stopped) this.earlyRound();
      }, FOLLOW_UP_MS);
    }
  }

  /**
   * The next round at `dueMs` (monotonic), on a fixed cadence; after a late round (a busy event
   * loop), never sooner than half an interval: setInterval would run the rounds it missed back to
   * back, and a rate over a few ms is noise that makes rules flap.
   */
  private schedule(dueMs: number): void {
    if (this.stopped) return;
    const now = performance.now();
    const at = Math.max(dueMs, now + EVALUATION_INTERVAL_MS / 2);
    this.timer = setTimeout(() => {
      this.round();
      this.schedule(at + EVALUATION_INTERVAL_MS);
    }, at - now);
  }

  /** Reads the rules again; a bad file keeps the rules in force and says why (log, status). */
  async reload(): Promise<boolean> {
    try {
      const rules = await this.readRules();
      this.engine?.replaceRules(rules);
      this.early?.setRules(rules, this.options.collector.hostFacts());
      this.rules = rules;
      this.lastReload = { at_ms: Date.now(), ok: true };
      this.options.log.info({ rules: rules.length }, 'rules reloaded');
      return true;
    } catch (error) {
      this.reloadFailed(error as Error);
      this.options.log.error({ err: error }, 'rules reload failed; the previous rules stay in force');
      return false;
    }
  }

  /** A reload that failed before the rules were read (tail2.yaml did not load): shown as the last reload. */
  reloadFailed(error: Error): void {
    this.lastReload = { at_ms: Date.now(), ok: false, error: error.message };
  }

  /** Rules in force. */
  get count(): number {
    return this.rules.length;
  }

  /** Every rule with its state per instance. */
  states(): readonly RuleStateView[] {
    return this.engine?.states() ?? [];
  }

  /** `metrics` in GET /api/status. */
  metricsStatus(): MetricsStatus {
    const { collector } = this.options;
    const tracked = collector.tracked();
    return {
      last_collect: this.lastCollectMs ? new Date(this.lastCollectMs).toISOString() : null,
      cost_ms: this.lastCollectCostMs,
      processes: tracked.processes,
      cgroups: tracked.cgroups,
      process_source: tracked.processSource,
      ...(collector.processSourceFallback !== undefined ? { process_source_reason: collector.processSourceFallback } : {}),
      early_rounds: this.earlyRounds,
      unavailable: this.unavailable,
    };
  }

  /** `rules` in GET /api/status. */
  rulesStatus(): RulesStatus {
    return { count: this.rules.length, file: this.options.config.rulesFile, last_reload: this.lastReload ?? null, unavailable: this.rulesWithoutData() };
  }

  private readRules(): Promise<Rule[]> {
    const { config } = this.options;
    return loadRulesFile(config.rulesFile, { notifiers: new Set(Object.keys(config.notifiers)) });
  }

  // One round; `early`: run before its time (samplesArrived), for EarlyRounds to tell a rise it
  // caught part-way.
  private round(early = false): void {
    const { collector, budget, log } = this.options;
    const now = Date.now();
    this.lastRoundMono = performance.now();
    try {
      const result = collector.collect(now);
      this.lastCollectMs = now;
      this.lastCollectCostMs = result.costMs;
      this.costThisSecondMs += result.costMs;
      // Once a second, by the clock: early rounds move the cadence, and must not starve this.
      if (this.lastRoundMono - this.lastOnCollectedMono >= 1000 * 0.9) {
        this.options.onCollected(now, this.costThisSecondMs);
        this.lastOnCollectedMono = this.lastRoundMono;
        this.costThisSecondMs = 0;
      }
      this.unavailable = result.unavailable;
      // tail2d and its own redis-server are never an incident of their own rules: a profiler that
      // profiles itself into an incident storm is the last thing a host needs at 3am.
      const readings = withoutOwnProcesses(result.readings, this.options.ownPids());
      const events = this.engine?.evaluate(readings, now) ?? [];
      this.early?.observe(readings, early);
      // New processes' history and rule instances count against the same budget as the samples.
      budget.makeRoom();
      for (const event of events) this.options.onRuleEvent(event);
    } catch (error) {
      // Once a minute at most: a collector that keeps failing must not write a line a second.
      this.collectFailures++;
      if (this.collectFailures === 1 || this.collectFailures % (60 * ROUNDS_PER_SECOND) === 0) log.error({ err: error, failures: this.collectFailures }, 'metric collection failed');
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
}
