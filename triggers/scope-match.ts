import type { MetricInstance } from '../daemon/model/metrics.js';
import type { RuleScope } from '../daemon/model/rule.js';

/**
 * Whether a rule with `scope` watches `instance`:
 *
 * - `system` watches the system instance only.
 * - `process` watches every process whose comm or full command line matches the pattern.
 * - `pid` watches that pid (each pid reuse is a new instance, told apart by `instanceKey`).
 * - `cgroup` watches the cgroup with exactly that path: a rule watches one cgroup, not a subtree,
 *   so a parent's total is never mixed with its children's.
 * - `unit` watches the cgroup the collectors tagged with that systemd unit.
 */
export function scopeMatches(scope: RuleScope, instance: MetricInstance): boolean {
  switch (scope.kind) {
    case 'system':
      return instance.kind === 'system';
    case 'process':
      return instance.kind === 'process' && (testPattern(scope.pattern, instance.comm) || testPattern(scope.pattern, instance.cmdline));
    case 'pid':
      return instance.kind === 'process' && instance.pid === scope.pid;
    case 'cgroup':
      return instance.kind === 'cgroup' && instance.path === scope.path;
    case 'unit':
      return instance.kind === 'cgroup' && instance.unit === scope.name;
  }
}

function testPattern(pattern: RegExp, text: string): boolean {
  // A `g` or `y` pattern keeps lastIndex between calls; without this reset the same process would
  // match on one evaluation and not on the next.
  pattern.lastIndex = 0;
  return pattern.test(text);
}
