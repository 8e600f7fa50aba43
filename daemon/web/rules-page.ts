import type { InstanceStateView, RuleStateView } from '../model/rule-state.js';
import type { Rule } from '../model/rule.js';
import type { MetricInstance } from '../model/metrics.js';
import type { DaemonStatus } from '../model/daemon-status.js';
import type { DaemonApi } from './daemon-api.js';
import { chartUnit, withUnit } from './metric-units.js';
import type { PageModel } from './page-renderer.js';
import { durationText, timeView, type TimeView } from './time-text.js';

/** One instance of a rule: the host, a process or a cgroup, and where it stands. */
export interface InstanceRow {
  what: string;
  state: InstanceStateView['state'];
  /** `inactive`, `pending since …`, `firing`, `cooling down until …`. */
  stateText: string;
  since: TimeView | undefined;
  lastValue: string;
  lastFired: TimeView | undefined;
  firedToday: number;
}

export interface RuleRow {
  name: string;
  /** The list page filtered to this rule. */
  incidentsHref: string;
  metric: string;
  scope: string;
  condition: string;
  forText: string;
  capture: string;
  cooldown: string;
  maxPerDay: number;
  notify: string[];
  location: string;
  instances: InstanceRow[];
  lastFired: TimeView | undefined;
  lastIncident: { href: string; fired: TimeView | undefined } | null;
  /** Why the rule cannot fire on this host (its metric is unavailable), or null. */
  noData: string | null;
}

export interface RulesPageModel extends PageModel {
  rules: RuleRow[];
}

/** `/rules`: every rule with its definition and the state of each instance it tracks. */
export function rulesPage(api: DaemonApi, nowMs: number): RulesPageModel {
  const noData = rulesWithoutData(api.status());
  return { title: 'Rules', rules: api.rules().map((view) => ruleRow(api, view, noData, nowMs)) };
}

function ruleRow(api: DaemonApi, view: RuleStateView, noData: Map<string, string>, nowMs: number): RuleRow {
  const rule = view.rule;
  const lastFiredMs = Math.max(-Infinity, ...view.instances.map((i) => i.lastFiredMs ?? -Infinity));
  const last = api.store.list({ rule: rule.name, limit: 1 }).incidents[0];
  return {
    name: rule.name,
    incidentsHref: `/?${new URLSearchParams({ rule: rule.name }).toString()}`,
    metric: rule.metric,
    scope: scopeText(rule.scope),
    condition: `${rule.comparison} ${rule.threshold?.text ?? ''}`.trim(),
    forText: durationText(rule.forMs),
    capture: `${durationText(rule.capture.beforeMs)} before, ${durationText(rule.capture.afterMs)} after`,
    cooldown: durationText(rule.cooldownMs),
    maxPerDay: rule.maxPerDay,
    notify: rule.notify ?? [],
    location: rule.location ? `${rule.location.file}:${rule.location.line}` : '',
    instances: view.instances.map((instance) => instanceRow(rule, instance, nowMs)),
    lastFired: Number.isFinite(lastFiredMs) ? timeView(lastFiredMs, nowMs) : undefined,
    lastIncident: last ? { href: `/incidents/${encodeURIComponent(last.id)}`, fired: timeView(last.fired_at, nowMs) } : null,
    noData: noData.get(rule.name) ?? null,
  };
}

function instanceRow(rule: Rule, view: InstanceStateView, nowMs: number): InstanceRow {
  let stateText: string = view.state;
  let since: TimeView | undefined;
  if (view.state === 'pending') {
    since = timeView(view.pendingSinceMs, nowMs);
    stateText = 'pending since';
  } else if (view.state === 'cooldown') {
    since = timeView(view.cooldownUntilMs, nowMs);
    stateText = since ? 'cooling down until' : 'held back (max_per_day reached)';
  } else if (view.state === 'firing') {
    since = timeView(view.pendingSinceMs, nowMs);
    stateText = since ? 'firing, condition held since' : 'firing';
  }
  const unit = chartUnit(rule.metric, view.instance);
  const value = view.lastValue === null ? '' : withUnit((view.lastValue * unit.factor).toLocaleString('en-US', { maximumFractionDigits: 1 }), unit);
  return { what: instanceText(view.instance), state: view.state, stateText, since, lastValue: value, lastFired: timeView(view.lastFiredMs, nowMs), firedToday: view.firedToday };
}

function instanceText(instance: MetricInstance): string {
  switch (instance.kind) {
    case 'system':
      return 'the host';
    case 'process':
      return `${instance.comm} (pid ${instance.pid})`;
    case 'cgroup':
      return instance.unit ?? instance.path;
  }
}

function scopeText(scope: Rule['scope']): string {
  switch (scope.kind) {
    case 'system':
      return 'system (the whole host)';
    case 'process':
      // A RegExp in the daemon; whatever survived JSON elsewhere.
      return `processes matching /${scope.pattern instanceof RegExp ? scope.pattern.source : String((scope.pattern as { source?: unknown } | undefined)?.source ?? '')}/`;
    case 'pid':
      return `pid ${scope.pid}`;
    case 'cgroup':
      return `cgroup ${scope.path}`;
    case 'unit':
      return `unit ${scope.name}`;
  }
}

/** status().rules.unavailable: rule name → why it has no data. */
function rulesWithoutData(status: DaemonStatus): Map<string, string> {
  return new Map(status.rules.unavailable.map((entry) => [entry.rule, entry.reason || 'no data on this host']));
}
