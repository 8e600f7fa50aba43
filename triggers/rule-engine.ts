import { instanceKey, type HostFacts, type MetricInstance, type MetricReading } from '../daemon/model/metrics.js';
import type { MemoryConsumer } from '../daemon/model/memory-consumer.js';
import type { InstanceStateView, RuleStateView } from '../daemon/model/rule-state.js';
import type { Rule, RuleScope } from '../daemon/model/rule.js';
import { scopeMatches } from './scope-match.js';
import { canonicalThreshold } from './threshold-units.js';

/** An instance with no reading for longer than this is forgotten (bounded memory under process churn). 10 minutes, in ms. */
export const FORGET_UNSEEN_AFTER_MS = 10 * 60_000;

/** One tracked instance's own objects (state, key, map entry), beyond its instance's strings. */
const INSTANCE_STATE_BYTES = 320;

/** The bytes one instance holds, counted against the daemon's memory budget. */
function instanceStateBytes(key: string, instance: MetricInstance): number {
  const strings = instance.kind === 'process' ? instance.comm.length + instance.cmdline.length : instance.kind === 'cgroup' ? instance.path.length : 0;
  return INSTANCE_STATE_BYTES + key.length + strings;
}

/** The trailing window `maxPerDay` counts firings in: 24 hours, in ms. */
export const MAX_PER_DAY_WINDOW_MS = 24 * 60 * 60_000;

/**
 * A transition of one rule on one instance.
 *
 * - `pending`: the condition started to hold (not emitted when `forMs` is 0: it fires at once).
 * - `firing`: it held for `forMs`; the daemon turns this into an incident.
 * - `suppressed`: it would have fired but cooldown or max_per_day forbids it; once per episode.
 * - `cleared`: it stopped holding before firing (pending or suppressed → inactive).
 * - `resolved`: it stopped holding after firing.
 */
export interface RuleEvent {
  type: 'pending' | 'firing' | 'suppressed' | 'cleared' | 'resolved';
  rule: Rule;
  /** For process scopes, the process that crossed (pid, comm, cmdline). */
  instance: MetricInstance;
  /** The reading, in the metric's canonical unit; the last known value when the reading is missing. */
  value: number;
  /** The rule's threshold in the metric's canonical unit. */
  threshold: number;
  /** Wall-clock ms of the evaluation. */
  atMs: number;
  /** Why it was suppressed (`cooldown until <ISO time>` / `max_per_day reached`), or why it cleared without a reading. */
  reason?: string;
  /**
   * On `firing`: the first evaluation at which the condition held in this episode. Before it is
   * the incident's baseline (the machine before trouble), from it on the trigger window.
   */
  heldSinceMs?: number;
}

interface InstanceState {
  instance: MetricInstance;
  /** `suppressed`: held for `forMs` but cooldown or max_per_day holds the firing back. */
  phase: 'inactive' | 'pending' | 'firing' | 'suppressed';
  pendingSinceMs: number | null;
  lastFiredMs: number | null;
  /** Firing times in the trailing 24 h, oldest first; at most `maxPerDay` + 1 long. */
  firedAtMs: number[];
  suppressionReported: boolean;
  lastValue: number | null;
  lastSeenMs: number;
  /** The evaluation (regular or early: RuleEngine's count of both) that last took a reading for it. */
  seenEvaluation: number;
  /** Order of first sight: views list instances in it. */
  seq: number;
}

interface TrackedRule {
  rule: Rule;
  threshold: number;
  instances: Map<string, InstanceState>;
  /** Whether the scope watches an instance, per instance object (collectors keep one per process until it execs). */
  matches: WeakMap<MetricInstance, boolean>;
}

interface FiringBlock {
  /** Infinity when `maxPerDay` is 0. */
  untilMs: number;
  reason: string;
}

/**
 * Evaluates rules against the readings of each collection interval, with Prometheus-like
 * alerting semantics per rule and instance: inactive → pending → firing, `forMs` held at every
 * evaluation, then cooldown and max_per_day limits on repeats.
 */
export class RuleEngine implements MemoryConsumer {
  readonly memoryName = 'rule_instances';
  private rules = new Map<string, TrackedRule>();
  private readonly now: () => number;
  private lastEvaluationMs = -Infinity;
  private totalBytes = 0;
  private nextSeq = 0;
  private evaluations = 0;

  /**
   * @param rules - validated rules with unique names.
   * @param host - converts percent thresholds (see `canonicalThreshold`).
   * @param options.now - wall clock in ms for calls that omit `nowMs`. @defaultValue `Date.now`
   * @throws Error for duplicate names or a threshold unit that does not fit its metric.
   */
  constructor(
    rules: Rule[],
    private readonly host: HostFacts,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.rules = this.track(rules);
  }

  /**
   * Evaluates every rule once. Call once per collection interval with all readings of it: an
   * instance without a reading counts as "condition not held" (a process that exited resets),
   * unless `holds` says it holds: its readings were left out because each repeats its last
   * (MetricCollector.holds), so its last value counts as this interval's reading.
   *
   * @param nowMs - wall-clock ms of this evaluation. @defaultValue `options.now()`
   * @returns the transitions of this evaluation, in rule order.
   */
  evaluate(readings: MetricReading[], nowMs: number = this.now(), holds: (instance: MetricInstance) => boolean = NEVER_HOLDS): RuleEvent[] {
    const events: RuleEvent[] = [];
    this.evaluations++;
    // Each rule walks every reading and skips other metrics: a comparison per reading costs less
    // than lists per metric built (allocated) every round.
    for (const tracked of this.rules.values()) this.evaluateRule(tracked, readings, nowMs, events, false, holds);
    this.lastEvaluationMs = nowMs;
    return events;
  }

  /**
   * An evaluation of the rules `only` selects, out of the cadence, on readings over a shorter
   * interval than a regular one (daemon/tail2d/early-rounds.ts): a reading that holds a condition
   * counts as at any evaluation (pending, and firing once `for` has passed), one that does not is
   * left to the next regular evaluation, as is an instance without a reading — a quarter-second
   * dip must not clear an episode that a one-second reading would keep.
   */
  evaluateRising(readings: MetricReading[], only: (rule: Rule) => boolean, nowMs: number = this.now(), holds: (instance: MetricInstance) => boolean = NEVER_HOLDS): RuleEvent[] {
    const events: RuleEvent[] = [];
    this.evaluations++;
    for (const tracked of this.rules.values()) if (only(tracked.rule)) this.evaluateRule(tracked, readings, nowMs, events, true, holds);
    return events;
  }

  // The memory budget's view (daemon/buffer/memory-budget.ts): instances that had no reading at
  // the last evaluation (processes that exited), seen longest ago first. Live ones never go.

  memoryBytes(): number {
    return this.totalBytes;
  }

  oldestEvictableMs(): number | undefined {
    return this.oldestUnseen()?.st.lastSeenMs;
  }

  evictOldest(): void {
    const oldest = this.oldestUnseen();
    if (oldest) this.forget(oldest.tracked, oldest.key, oldest.st);
  }

  /** Every rule, in file order, with the instances it tracks. @param nowMs - @defaultValue `options.now()` */
  states(nowMs: number = this.now()): RuleStateView[] {
    return [...this.rules.values()].map(({ rule, threshold, instances }) => ({
      rule,
      threshold,
      instances: [...instances].sort(([, a], [, b]) => a.seq - b.seq).map(([key, st]) => viewOf(rule, key, st, nowMs)),
    }));
  }

  /**
   * Swaps in a reloaded rules file (SIGHUP). A rule whose name and definition (metric, scope,
   * comparison, threshold, forMs) are unchanged keeps its per-instance state: pending timers,
   * cooldowns and counters, so a reload neither re-fires nor forgets. Changed and new rules start
   * fresh; removed rules are dropped. Other fields (cooldown, max_per_day, notify, capture) take
   * effect at once on the kept state.
   *
   * @throws Error as the constructor does; the current rules then stay in place untouched.
   */
  replaceRules(rules: Rule[]): void {
    const next = this.track(rules);
    for (const [name, tracked] of next) {
      const previous = this.rules.get(name);
      if (previous && sameDefinition(previous.rule, tracked.rule)) tracked.instances = previous.instances;
    }
    this.rules = next;
    this.totalBytes = 0;
    for (const tracked of next.values()) for (const [key, st] of tracked.instances) this.totalBytes += instanceStateBytes(key, st.instance);
  }

  /** Instances tracked over all rules, for `/status` and to check memory stays bounded. */
  trackedInstanceCount(): number {
    let count = 0;
    for (const tracked of this.rules.values()) count += tracked.instances.size;
    return count;
  }

  // Each rule's instances are kept in the order they were last seen (a reading moves one to the
  // end), so the first is the one seen longest ago.
  private oldestUnseen(): { tracked: TrackedRule; key: string; st: InstanceState } | undefined {
    let oldest: { tracked: TrackedRule; key: string; st: InstanceState } | undefined;
    for (const tracked of this.rules.values()) {
      const first = tracked.instances.entries().next();
      if (first.done) continue;
      const [key, st] = first.value;
      if (st.lastSeenMs >= this.lastEvaluationMs) continue;
      if (!oldest || st.lastSeenMs < oldest.st.lastSeenMs) oldest = { tracked, key, st };
    }
    return oldest;
  }

  private forget(tracked: TrackedRule, key: string, st: InstanceState): void {
    if (tracked.instances.get(key) !== st) return;
    tracked.instances.delete(key);
    this.totalBytes -= instanceStateBytes(key, st.instance);
  }

  private track(rules: Rule[]): Map<string, TrackedRule> {
    const tracked = new Map<string, TrackedRule>();
    for (const rule of rules) {
      if (tracked.has(rule.name)) throw new Error(`rule name "${rule.name}" is used twice: rule names must be unique`);
      tracked.set(rule.name, { rule, threshold: canonicalThreshold(rule, this.host), instances: new Map(), matches: new WeakMap() });
    }
    return tracked;
  }

  private evaluateRule(tracked: TrackedRule, readings: MetricReading[], nowMs: number, events: RuleEvent[], risingOnly: boolean, holds: (instance: MetricInstance) => boolean): void {
    const { rule } = tracked;
    const emit = (type: RuleEvent['type'], st: InstanceState, reason?: string): void => {
      const event: RuleEvent = { type, rule, instance: st.instance, value: st.lastValue ?? Number.NaN, threshold: tracked.threshold, atMs: nowMs };
      if (reason !== undefined) event.reason = reason;
      if (type === 'firing' && st.pendingSinceMs !== null) event.heldSinceMs = st.pendingSinceMs;
      events.push(event);
    };
    const matches = tracked.matches;

    // The last reading wins when a collector reports an instance twice in one interval: readings
    // are taken in order, and a later one of the same round overrides what an earlier one did.
    const metric = rule.metric;
    for (const reading of readings) {
      if (reading.metric !== metric) continue;
      const instance = reading.instance;
      let matched = matches.get(instance);
      if (matched === undefined) {
        matched = scopeMatches(rule.scope, instance);
        matches.set(instance, matched);
      }
      if (!matched) continue;
      const key = instanceKey(instance);
      this.take(tracked, key, tracked.instances.get(key), instance, reading.value, nowMs, emit, risingOnly);
    }

    // An instance without a reading that holds had this interval's reading left out: it is its
    // last. Taking it moves the entry to the end of the map, where this loop meets it again, seen.
    const keepsQuiet = keepsQuietInstances(rule);
    for (const [key, st] of tracked.instances) {
      if (st.seenEvaluation === this.evaluations) continue;
      if (st.lastValue !== null && holds(st.instance)) {
        this.take(tracked, key, st, st.instance, st.lastValue, nowMs, emit, risingOnly);
        continue;
      }
      if (risingOnly) continue;
      onNotHeld(st, emit, 'no reading this interval');
      if (nowMs - st.lastSeenMs > FORGET_UNSEEN_AFTER_MS || (!keepsQuiet && st.lastFiredMs === null)) this.forget(tracked, key, st);
    }
  }

  // One reading of `instance` (under `key`, with its state `st` if it has one) for the rule.
  private take(
    tracked: TrackedRule,
    key: string,
    st: InstanceState | undefined,
    instance: MetricInstance,
    value: number,
    nowMs: number,
    emit: (type: RuleEvent['type'], st: InstanceState, reason?: string) => void,
    risingOnly: boolean,
  ): void {
    const { rule, threshold } = tracked;
    const keepsQuiet = keepsQuietInstances(rule);
    // NaN compares false both ways: an unusable reading never holds.
    const held = rule.comparison === 'above' ? value > threshold : value < threshold;
    if (risingOnly && !held) return;
    if (!st) {
      if (!held && !keepsQuiet) return;
      st = { instance, phase: 'inactive', pendingSinceMs: null, lastFiredMs: null, firedAtMs: [], suppressionReported: false, lastValue: null, lastSeenMs: nowMs, seenEvaluation: 0, seq: this.nextSeq++ };
      this.totalBytes += instanceStateBytes(key, instance);
    } else {
      tracked.instances.delete(key); // re-inserted below: the map stays in last-seen order
      if (st.instance !== instance) this.totalBytes += instanceStateBytes(key, instance) - instanceStateBytes(key, st.instance);
    }
    tracked.instances.set(key, st);
    // Same key, fresher facts: a process may change comm or cmdline by exec'ing.
    st.instance = instance;
    st.lastValue = value;
    st.lastSeenMs = nowMs;
    st.seenEvaluation = this.evaluations;
    if (held) this.onHeld(rule, st, nowMs, emit);
    else onNotHeld(st, emit);
    if (!keepsQuiet && st.phase === 'inactive' && st.lastFiredMs === null) this.forget(tracked, key, st);
  }

  private onHeld(rule: Rule, st: InstanceState, nowMs: number, emit: (type: RuleEvent['type'], st: InstanceState, reason?: string) => void): void {
    if (st.phase === 'firing') return; // no repeat events while it keeps holding
    if (st.phase === 'inactive') {
      st.phase = 'pending';
      st.pendingSinceMs = nowMs;
      st.suppressionReported = false;
      if (rule.forMs > 0) {
        emit('pending', st);
        return;
      }
    }
    if (nowMs - (st.pendingSinceMs ?? nowMs) < rule.forMs) return;
    // Held long enough. A suppressed instance is re-checked every evaluation, so a problem that
    // began during cooldown is still captured once the cooldown ends, if it is still there.
    const block = firingBlock(rule, st, nowMs);
    if (!block) {
      st.phase = 'firing';
      st.lastFiredMs = nowMs;
      st.firedAtMs.push(nowMs);
      emit('firing', st);
      return;
    }
    st.phase = 'suppressed';
    if (!st.suppressionReported) {
      st.suppressionReported = true;
      emit('suppressed', st, block.reason);
    }
  }
}

/** No instance holds: the default of evaluate's `holds`. */
const NEVER_HOLDS = (): boolean => false;

/**
 * Whether the rule keeps the state of instances whose condition does not hold. A pattern over
 * processes watches every process on the host, and nearly all of them are quiet: one whose
 * condition does not hold and that never fired has nothing to remember, so it costs a scope test
 * and a comparison per round, no state. Other scopes watch one or a few instances, kept even while
 * inactive so their last value shows in the views.
 */
function keepsQuietInstances(rule: Rule): boolean {
  return rule.scope.kind !== 'process';
}

function onNotHeld(st: InstanceState, emit: (type: RuleEvent['type'], st: InstanceState, reason?: string) => void, reason?: string): void {
  if (st.phase === 'inactive') return;
  const type = st.phase === 'firing' ? 'resolved' : 'cleared';
  st.phase = 'inactive';
  st.pendingSinceMs = null;
  st.suppressionReported = false;
  emit(type, st, reason);
}

/** What keeps the instance from firing at `nowMs`, if anything; the later of the two limits wins. */
function firingBlock(rule: Rule, st: InstanceState, nowMs: number): FiringBlock | undefined {
  while (st.firedAtMs.length > 0 && nowMs - st.firedAtMs[0] >= MAX_PER_DAY_WINDOW_MS) st.firedAtMs.shift();
  let block: FiringBlock | undefined;
  if (st.lastFiredMs !== null && nowMs < st.lastFiredMs + rule.cooldownMs) {
    const untilMs = st.lastFiredMs + rule.cooldownMs;
    block = { untilMs, reason: `cooldown until ${new Date(untilMs).toISOString()}` };
  }
  const fired = st.firedAtMs.length;
  if (fired >= rule.maxPerDay) {
    // Allowed again once enough of the oldest firings have left the trailing window.
    const untilMs = rule.maxPerDay < 1 ? Number.POSITIVE_INFINITY : st.firedAtMs[fired - rule.maxPerDay] + MAX_PER_DAY_WINDOW_MS;
    if (!block || untilMs > block.untilMs) block = { untilMs, reason: 'max_per_day reached' };
  }
  return block;
}

function viewOf(rule: Rule, key: string, st: InstanceState, nowMs: number): InstanceStateView {
  // Work on a copy: a view must not change the state it shows.
  const block = firingBlock(rule, { ...st, firedAtMs: [...st.firedAtMs] }, nowMs);
  let state: InstanceStateView['state'];
  if (st.phase === 'suppressed') state = 'cooldown';
  else if (st.phase === 'inactive') state = block ? 'cooldown' : 'inactive';
  else state = st.phase;
  return {
    instance: st.instance,
    key,
    state,
    pendingSinceMs: st.pendingSinceMs,
    lastFiredMs: st.lastFiredMs,
    cooldownUntilMs: block && Number.isFinite(block.untilMs) ? block.untilMs : null,
    firedToday: st.firedAtMs.filter((t) => nowMs - t < MAX_PER_DAY_WINDOW_MS).length,
    lastValue: st.lastValue,
    lastSeenMs: st.lastSeenMs,
  };
}

/** Same name and the same metric, scope, comparison, threshold and `forMs`. */
function sameDefinition(a: Rule, b: Rule): boolean {
  return (
    a.name === b.name &&
    a.metric === b.metric &&
    sameScope(a.scope, b.scope) &&
    a.comparison === b.comparison &&
    a.threshold.value === b.threshold.value &&
    a.threshold.unit === b.threshold.unit &&
    a.forMs === b.forMs
  );
}

function sameScope(a: RuleScope, b: RuleScope): boolean {
  switch (a.kind) {
    case 'system':
      return b.kind === 'system';
    case 'process':
      // A RegExp is compared by what it matches, not by identity: a reload builds new objects.
      return b.kind === 'process' && a.pattern.source === b.pattern.source && a.pattern.flags === b.pattern.flags;
    case 'pid':
      return b.kind === 'pid' && a.pid === b.pid;
    case 'cgroup':
      return b.kind === 'cgroup' && a.path === b.path;
    case 'unit':
      return b.kind === 'unit' && a.name === b.name;
  }
}
