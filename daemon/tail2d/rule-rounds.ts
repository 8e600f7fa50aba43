import type { Logger } from 'pino';
import type { MemoryBudget } from '../buffer/memory-budget.js';
import type { MetricCollector, ScopedUnavailableMetric } from '../metrics/metric-collector.js';
import type { Tail2Config } from '../model/config.js';
import type { MetricsStatus, RulesReload, RulesStatus } from '../model/daemon-status.js';
import type { MetricInstance, MetricReading } from '../model/metrics.js';
import type { RuleStateView } from '../model/rule-state.js';
import type { Rule } from '../model/rule.js';
import type { SampledCpu } from '../profile/sampled-cpu.js';
import { ThrottledErrorLog } from '../model/throttled-error-log.js';
import { EarlyRounds, watches } from './early-rounds.js';
import { RuleEngine, type RuleEvent } from '../../triggers/rule-engine.js';
import { loadRulesFile } from '../../triggers/rules-file.js';

/**
 * The evaluation interval: the cadence of every metric and rule, and the interval each reading
 * covers (a rate is over the last round, never a lifetime average). A condition is seen in the
 * first round that ends after it holds: a process already running that starts to spin above a
 * threshold θ (a share of the interval) is pending within (1 + θ) rounds; a new process within
 * two (first sight, then its first interval) — and, for the cpu rules early rounds are for
 * (early-rounds.ts), within about half a second.
 *
 * Every round reads every process, so the interval is also most of what tail2d costs a host that
 * runs many: measured with 1,000 processes, every CPU busy (bench daemon), 0.77% of a core per
 * sampled CPU at 1 s, 1.07% at 500 ms, 1.37% at 250 ms, against perf record's ~0.6%. One second
 * is kept, and early rounds bring a spinning process's pending under a second without that cost.
 */
export const EVALUATION_INTERVAL_MS = 1000;
/** What is per second, not per round: tail2d's own usage and self-protection (cpu-backoff.ts). */
const ROUNDS_PER_SECOND = Math.round(1000 / EVALUATION_INTERVAL_MS);
/**
 * Early rounds allowed per evaluation interval (a rise and its follow-up): whatever the samples
 * show, rounds cost at most this many times more than on the cadence alone.
 */
const MAX_EARLY_ROUNDS_PER_INTERVAL = 2;
/** The closest an early round comes to the rounds before and after it: a rate over less is noise. */
const EARLY_MIN_GAP_MS = 200;
/** The least time between two looks at the samples for an early round. */
const EARLY_CHECK_MIN_MS = 100;
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
   * Once a second, after that second's last regular collection, before its rules: `costMs` is
   * what that collection took (early rounds, which read the CPU only, are not in it).
   */
  onCollected: (nowMs: number, costMs: number) => void;
  /** Every event of the rules (pending, firing, suppressed, cleared, resolved). */
  onRuleEvent: (event: RuleEvent) => void;
  /**
   * The CPU the samples of the last `windowMs` show (daemon/profile/sampled-cpu.ts); undefined
   * when there are none that recent. Without it, rounds run only on their cadence.
   */
  sampledCpu?: (windowMs: number) => SampledCpu | undefined;
  /** The rules in force, at load and after each reload that read them (the profiles that follow rules). */
  onRules?: (rules: readonly Rule[]) => void;
  log: Logger;
}

/** `readings` without those of the processes in `own`, compacted in place (a round's readings are thousands: no copy). */
function withoutOwnProcesses(readings: MetricReading[], own: ReadonlySet<number>): MetricReading[] {
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
  /** Regular rounds since the last onCollected. */
  private roundsThisSecond = 0;
  /** performance.now() of the recent early rounds, oldest first (at most MAX_EARLY_ROUNDS_PER_INTERVAL). */
  private recentEarlyRounds: number[] = [];
  private lastReload: RulesReload | undefined;
  private collectFailures = 0;
  /** Checked up to 10 times a second: a check that keeps failing is logged once a minute. */
  private readonly earlyCheckFailures: ThrottledErrorLog;
  private early: EarlyRounds | undefined;
  /** The early round waiting to run (one at a time). */
  private earlyTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last look at the samples, and when the next regular round is due. */
  private lastEarlyCheckMono = 0;
  private nextRoundMono = Infinity;
  /** performance.now() of the last regular (full) round. */
  private lastRegularMono = 0;
  private earlyRounds = 0;
  /** performance.now() of the last round. */
  private lastRoundMono = 0;
  /** tail2d's own processes in the current round (their readings are not the rules'). */
  private ownThisRound: ReadonlySet<number> = new Set();
  /**
   * For the rules: a process that held (its readings repeat the last ones, left out) is read as
   * its last values; never one of tail2d's own, whose readings the rules do not get either.
   */
  private readonly holds = (instance: MetricInstance): boolean =>
    instance.kind === 'process' && !this.ownThisRound.has(instance.pid) && this.options.collector.holds(instance);

  constructor(private readonly options: RuleRoundsOptions) {
    this.earlyCheckFailures = new ThrottledErrorLog(options.log, 'reading the CPU samples for an early round failed');
  }

  /** Reads the rules file and sets the engine up. @throws RulesFileError on a bad file: the daemon must not start. */
  async load(): Promise<void> {
    const { collector, budget } = this.options;
    this.rules = await this.readRules();
    this.engine = new RuleEngine(this.rules, collector.hostFacts());
    // The engine has no state yet for processes that hold: the next round gives every reading.
    collector.giveAll();
    this.early = new EarlyRounds(this.rules, collector.hostFacts());
    budget.add(this.engine);
    this.options.onRules?.(this.rules);
  }

  /**
   * Takes the baselines for the rates, then runs a round every evaluation interval, and one
   * sooner when the CPU samples show a rise towards a cpu rule (see samplesArrived).
   */
  start(): void {
    this.options.collector.collect(Date.now());
    this.lastRoundMono = performance.now();
    this.lastRegularMono = this.lastRoundMono;
    this.stopped = false;
    this.schedule(performance.now() + EVALUATION_INTERVAL_MS);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of [this.timer, this.earlyTimer]) if (timer) clearTimeout(timer);
    this.timer = undefined;
    this.earlyTimer = undefined;
  }

  /**
   * New samples are in the buffer (tail2d calls it after each batch): an early round soon if they
   * show a rise towards a cpu rule (early-rounds.ts). Looked at 10 times a second at most (a fork
   * storm brings a batch per new process).
   */
  samplesArrived(): void {
    const { sampledCpu } = this.options;
    if (this.stopped || !sampledCpu || !this.early?.watching || this.earlyTimer) return;
    const now = performance.now();
    if (now - this.lastEarlyCheckMono < EARLY_CHECK_MIN_MS) return;
    this.lastEarlyCheckMono = now;
    try {
      const sampled = sampledCpu(EARLY_WINDOW_MS);
      const due = sampled !== undefined && this.early.due(sampled, this.options.ownPids(), (pid) => this.options.collector.processInstance(pid));
      this.earlyCheckFailures.succeeded();
      if (!due) return;
    } catch (error) {
      this.earlyCheckFailures.failed(error);
      return;
    }
    this.earlyRoundAt(this.lastRoundMono + EARLY_MIN_GAP_MS);
  }

  /**
   * An early round at `atMs` (monotonic) or now if that has passed, unless the budget is spent
   * (MAX_EARLY_ROUNDS_PER_INTERVAL). When the regular round is due within EARLY_MIN_GAP_MS of
   * it, the regular round runs then instead (a few hundred ms early: its interval stays over
   * half a second) and the cadence restarts from it; otherwise the cadence is left as it is, and
   * the other metrics' rounds stay a second apart.
   */
  private earlyRoundAt(atMs: number): void {
    const at = Math.max(atMs, performance.now());
    if (this.nextRoundMono - at < EARLY_MIN_GAP_MS) {
      // Already due by then, or it would come less than half an interval after the last one.
      if (this.nextRoundMono <= at || at < this.lastRegularMono + EVALUATION_INTERVAL_MS / 2) return;
      if (this.timer) clearTimeout(this.timer);
      this.earlyRounds++;
      this.nextRoundMono = at;
      this.timer = setTimeout(() => {
        this.round();
        this.schedule(at + EVALUATION_INTERVAL_MS);
      }, at - performance.now());
      return;
    }
    if (this.recentEarlyRounds.length >= MAX_EARLY_ROUNDS_PER_INTERVAL && at - this.recentEarlyRounds[0] < EVALUATION_INTERVAL_MS) return;
    this.earlyTimer = setTimeout(() => {
      this.earlyTimer = undefined;
      if (this.stopped) return;
      this.earlyRounds++;
      this.recentEarlyRounds.push(performance.now());
      if (this.recentEarlyRounds.length > MAX_EARLY_ROUNDS_PER_INTERVAL) this.recentEarlyRounds.shift();
      this.round(true);
      // A rise caught part-way: one more round a moment later (EarlyRounds.followUpWanted).
      if (this.early?.followUpWanted()) this.earlyRoundAt(this.lastRoundMono + FOLLOW_UP_MS);
    }, at - performance.now());
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
    this.nextRoundMono = at;
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
      // New and changed rules start without state, so processes that hold would pass them by.
      this.options.collector.giveAll();
      this.early?.setRules(rules, this.options.collector.hostFacts());
      this.rules = rules;
      this.options.onRules?.(rules);
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
    if (!early) this.lastRegularMono = this.lastRoundMono;
    try {
      const result = collector.collect(now, { cpuOnly: early });
      this.lastCollectMs = now;
      this.lastCollectCostMs = result.costMs;
      if (!early) {
        if (++this.roundsThisSecond >= ROUNDS_PER_SECOND) {
          this.options.onCollected(now, result.costMs);
          this.roundsThisSecond = 0;
        }
        this.unavailable = result.unavailable;
      }
      // tail2d and its own redis-server are never an incident of their own rules: a profiler that
      // profiles itself into an incident storm is the last thing a host needs at 3am.
      this.ownThisRound = this.options.ownPids();
      const readings = withoutOwnProcesses(result.readings, this.ownThisRound);
      // An early round read the CPU only, over a shorter interval: only the rules it is for take
      // it, and only as a rise (RuleEngine.evaluateRising).
      const events = (early ? this.engine?.evaluateRising(readings, watches, now, this.holds) : this.engine?.evaluate(readings, now, this.holds)) ?? [];
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
