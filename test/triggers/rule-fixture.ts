import { RULE_DEFAULTS, type Rule } from '../../daemon/model/rule.js';

/**
 * A rule as the parser would produce it: `cpu` on the system scope, `above: 90%`, the documented
 * defaults for the rest. Tests override only what they are about.
 */
export function makeRule(overrides: Partial<Rule> = {}): Rule {
  return {
    name: 'test-rule',
    metric: 'cpu',
    scope: { kind: 'system' },
    comparison: 'above',
    threshold: { value: 90, unit: 'percent', text: '90%' },
    forMs: RULE_DEFAULTS.forMs,
    capture: { ...RULE_DEFAULTS.capture },
    cooldownMs: RULE_DEFAULTS.cooldownMs,
    maxPerDay: RULE_DEFAULTS.maxPerDay,
    notify: [],
    location: { file: 'rules.yaml', line: 2, col: 5 },
    ...overrides,
  };
}
