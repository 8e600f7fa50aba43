import type { MetricInstance } from './metrics.js';
import type { Rule } from './rule.js';

/** One instance of one rule, as `/rules` and `GET /api/rules` show it. Times are wall-clock ms. */
export interface InstanceStateView {
  instance: MetricInstance;
  /** `instanceKey(instance)`. */
  key: string;
  /** `cooldown`: held long enough but held back, or recently fired and not allowed to fire yet. */
  state: 'inactive' | 'pending' | 'firing' | 'cooldown';
  /** When the condition started to hold in the current episode; null when it does not hold. */
  pendingSinceMs: number | null;
  lastFiredMs: number | null;
  /** From when a firing is allowed again (cooldown or max_per_day); null when it is allowed now or never again today by rule (`maxPerDay` 0). */
  cooldownUntilMs: number | null;
  /** Firings in the trailing 24 h. */
  firedToday: number;
  /** Last reading, in the metric's canonical unit. */
  lastValue: number | null;
  /** The last evaluation that had a reading for this instance. */
  lastSeenMs: number;
}

/** One rule with its instances. */
export interface RuleStateView {
  rule: Rule;
  /** In the metric's canonical unit. */
  threshold: number;
  instances: InstanceStateView[];
}
