import type { HostFacts, MetricInstance, MetricReading } from '../model/metrics.js';
import type { Rule, RuleScope } from '../model/rule.js';
import type { SampledCpu } from '../profile/sampled-cpu.js';
import { scopeMatches } from '../../triggers/scope-match.js';
import { canonicalThreshold } from '../../triggers/threshold-units.js';

/**
 * A process's samples count as a possible crossing from this share of the lowest threshold on:
 * the estimate is noisy (±7% of a core over half a second at 99 Hz), so it looks below the line.
 */
const WATCH_SHARE = 0.8;
/**
 * …and only when the estimate is this share of the threshold above what the last round read for
 * it: a process that holds steady near the line (its reading already known) is not a rise. About
 * two standard deviations of the estimate: a steady process asks for an extra round rarely.
 */
const RISE_SHARE = 0.15;
/**
 * …and by at least this many cores whatever the threshold: a rule at 0% (any CPU at all) would
 * otherwise see every busy process rising at every look, and ask for a round each time.
 */
const MIN_RISE_CORES = 0.1;
/** Readings of processes below this many cores are not kept: none of them is near any line. */
const KEEP_READINGS_FROM_CORES = 0.05;

/**
 * When to run a metric round before its time, so a CPU rule sees a crossing within a second
 * rather than within one or two one-second rounds: as the CPU samples of the last half second
 * arrive, a process that now looks busy enough to cross a `cpu … above` rule whose process or pid
 * scope watches it (or the host, for a system-scope one), and busier than the last round read it,
 * asks for a round now. The round reads every process from the kernel's counters as any round
 * does (the rules fire on those, never on the estimate), over the shorter interval since the last
 * round, and only these rules take it (rule-rounds.ts).
 *
 * A process not read by a round yet (it just started) is matched by its name as the samples give
 * it: a pattern that only its command line matches sees it from its first regular round on.
 * Cgroup and unit scopes are not watched this way (their members' samples would have to be
 * summed per cgroup): they see a crossing at the regular rounds.
 */
export class EarlyRounds {
  /** The `cpu … above` rules on process and pid scopes, with their thresholds in cores. */
  private watched: { scope: RuleScope; level: number }[] = [];
  /** The lowest of their levels: an estimate below its watch line needs no scope test. */
  private processLevel = Infinity;
  private systemLevel = Infinity;
  /** The level that watches each process instance (Infinity: none), per instance object. */
  private levels = new WeakMap<MetricInstance, number>();
  /** The last round's cpu reading (cores) of each process at or above KEEP_READINGS_FROM_CORES. */
  private lastByPid = new Map<number, number>();
  private lastSystemCores = 0;
  /** The last round was early and caught a rise part-way: one more round should follow. */
  private followUp = false;
  /** The round being run is that one more: it asks for no other (one follow-up per rise). */
  private followingUp = false;
  /** What the last {@link due} found rising (pid → the level it rose towards): the round it asked for checks how far each got. */
  private readonly rising = new Map<number, number>();
  private systemRising = false;

  constructor(rules: readonly Rule[], host: HostFacts) {
    this.setRules(rules, host);
  }

  /** Whether any rule can be watched this way: without one, nothing needs the samples. */
  get watching(): boolean {
    return this.processLevel !== Infinity || this.systemLevel !== Infinity;
  }

  /** Takes the rules in force (start, reload). */
  setRules(rules: readonly Rule[], host: HostFacts): void {
    this.watched = [];
    this.systemLevel = Infinity;
    this.levels = new WeakMap();
    for (const rule of rules) {
      if (!watches(rule)) continue;
      const level = canonicalThreshold(rule, host);
      if (rule.scope.kind === 'system') this.systemLevel = Math.min(this.systemLevel, level);
      else this.watched.push({ scope: rule.scope, level });
    }
    this.processLevel = Math.min(Infinity, ...this.watched.map((w) => w.level));
  }

  /**
   * After every round: what it read, to compare the next estimates with. `early`: the round ran
   * before its time. If it caught a rise part-way — a rising process read between the watch line
   * and the rule's (its interval only partly busy), or not read at all (seen for the first time:
   * a rate needs a second reading), or the host between the lines — {@link followUpWanted} asks
   * for one more round shortly: a rise from there to the line is less than the estimate's margin
   * can tell, so the next samples would not ask for it.
   */
  observe(readings: readonly MetricReading[], early: boolean): void {
    const byPid = new Map<number, number>();
    const risingRead = new Map<number, number>();
    let systemCores: number | undefined;
    for (const reading of readings) {
      if (reading.metric !== 'cpu') continue;
      const instance = reading.instance;
      if (instance.kind === 'process') {
        if (reading.value >= KEEP_READINGS_FROM_CORES) byPid.set(instance.pid, reading.value);
        if (this.rising.has(instance.pid)) risingRead.set(instance.pid, reading.value);
      } else if (instance.kind === 'system') {
        systemCores = reading.value;
      }
    }
    const caughtPartWay = (value: number | undefined, level: number) => value === undefined || (value >= level * WATCH_SHARE && value < level);
    let followUp = false;
    if (early && !this.followingUp) {
      for (const [pid, level] of this.rising) if (caughtPartWay(risingRead.get(pid), level)) followUp = true;
      if (this.systemRising && caughtPartWay(systemCores, this.systemLevel)) followUp = true;
    }
    this.lastByPid = byPid;
    if (systemCores !== undefined) this.lastSystemCores = systemCores;
    this.followUp = followUp;
    this.followingUp = false;
    this.rising.clear();
    this.systemRising = false;
  }

  /**
   * After an early round: whether one more should follow shortly (see {@link observe}). Asked
   * once; the round that follows asks for no other, so a process that stays between the lines
   * costs one extra round per rise, not a chain of them.
   */
  followUpWanted(): boolean {
    if (!this.followUp) return false;
    this.followUp = false;
    this.followingUp = true;
    return true;
  }

  /**
   * Whether the samples since the last round show a rise worth a round now. `instanceOf` gives the
   * instance the collectors know for a pid (its name and command line, for the rules' scopes);
   * `own` (tail2d's processes) never counts.
   */
  due(sampled: SampledCpu, own: ReadonlySet<number>, instanceOf: (pid: number) => MetricInstance | undefined): boolean {
    this.systemRising = this.systemLevel !== Infinity && rises(sampled.busyCores, this.lastSystemCores, this.systemLevel);
    this.rising.clear();
    for (const [pid, cores] of sampled.byPid) {
      if (cores < this.processLevel * WATCH_SHARE || own.has(pid)) continue;
      const level = this.levelOf(instanceOf(pid) ?? { kind: 'process', pid, startTime: 0, comm: sampled.comms.get(pid) ?? '', cmdline: '' });
      if (rises(cores, this.lastByPid.get(pid) ?? 0, level)) this.rising.set(pid, level);
    }
    return this.systemRising || this.rising.size > 0;
  }

  // The lowest level of the watched rules whose scope takes `instance`; Infinity when none does.
  private levelOf(instance: MetricInstance): number {
    let level = this.levels.get(instance);
    if (level === undefined) {
      level = Infinity;
      for (const watched of this.watched) if (watched.level < level && scopeMatches(watched.scope, instance)) level = watched.level;
      this.levels.set(instance, level);
    }
    return level;
  }
}

/** Whether early rounds are for `rule`: `cpu … above` on a process, pid or system scope. */
export function watches(rule: Rule): boolean {
  return rule.metric === 'cpu' && rule.comparison === 'above' && (rule.scope.kind === 'process' || rule.scope.kind === 'pid' || rule.scope.kind === 'system');
}

function rises(estimate: number, lastReading: number, level: number): boolean {
  return estimate >= level * WATCH_SHARE && estimate >= lastReading + Math.max(level * RISE_SHARE, MIN_RISE_CORES);
}
