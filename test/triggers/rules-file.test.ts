import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRulesCommand } from '../../daemon/cli/rules-command.js';
import { Tail2Error } from '../../daemon/model/tail2-error.js';
import { METRIC_NAMES } from '../../daemon/model/metrics.js';
import { RULE_DEFAULTS, type Rule } from '../../daemon/model/rule.js';
import { formatProblem, loadRulesFile, parseRulesFile } from '../../triggers/rules-file.js';
import { RulesFileError } from '../../triggers/rules-file-error.js';
import { parseThreshold } from '../../triggers/threshold.js';
import { repoRoot } from '../helpers/fixtures.js';

const NOTIFIERS = new Set(['oncall-slack', 'oncall-email']);

const GOOD = `# every metric and every kind of scope
rules:
  - name: db-spin
    metric: cpu
    scope: { process: "^postgres" }
    above: 90%
    for: 30s
    capture: { before: 2m, after: 5s }
    cooldown: 1h
    max_per_day: 5
    notify: [oncall-slack, oncall-email]
  - name: host-cores
    metric: cpu
    above: 1.5 cores
  - name: worker
    metric: cpu
    scope: { pid: 4242 }
    above: 2cores
  - name: nginx-rss
    metric: rss
    scope: { cgroup: /system.slice/nginx.service }
    above: 512MiB
  - name: api-leak
    metric: rss_growth
    scope:
      unit: api.service
    above: 10MiB/min
  - name: cache-thrash
    metric: cache_miss_rate
    scope: system
    above: 5000/s
  - name: cpu-stall
    metric: psi_cpu
    above: 20%
  - name: mem-stall
    metric: psi_memory
    below: 0.5%
  - name: io-stall
    metric: psi_io
    above: 35%
`;

/** The keys every rule gets when it leaves them out. */
const DEFAULTS = {
  forMs: RULE_DEFAULTS.forMs,
  capture: { beforeMs: RULE_DEFAULTS.capture.beforeMs, afterMs: RULE_DEFAULTS.capture.afterMs },
  cooldownMs: RULE_DEFAULTS.cooldownMs,
  maxPerDay: RULE_DEFAULTS.maxPerDay,
  notify: [],
};

const at = (line: number) => ({ file: 'good.yaml', line, col: 5 });

describe('parseRulesFile on a good file', () => {
  const { rules, problems } = parseRulesFile(GOOD, 'good.yaml', { notifiers: NOTIFIERS });

  it('has no problems and one rule per entry, covering every metric', () => {
    expect(problems).toEqual([]);
    expect(rules.map((rule) => rule.name)).toEqual(['db-spin', 'host-cores', 'worker', 'nginx-rss', 'api-leak', 'cache-thrash', 'cpu-stall', 'mem-stall', 'io-stall']);
    expect(new Set(rules.map((rule) => rule.metric))).toEqual(new Set(METRIC_NAMES));
  });

  it('reads every key of a full rule', () => {
    expect(rules[0]).toEqual({
      name: 'db-spin',
      metric: 'cpu',
      scope: { kind: 'process', pattern: /^postgres/ },
      comparison: 'above',
      threshold: { value: 90, unit: 'percent', text: '90%' },
      forMs: 30_000,
      capture: { beforeMs: 120_000, afterMs: 5_000 },
      cooldownMs: 3_600_000,
      maxPerDay: 5,
      notify: ['oncall-slack', 'oncall-email'],
      location: at(3),
    } satisfies Rule);
    expect(rules[0].scope.kind === 'process' && rules[0].scope.pattern.test('postgres: writer')).toBe(true);
  });

  it('fills defaults, resolves every scope kind and normalizes threshold units', () => {
    const expected: Rule[] = [
      { name: 'host-cores', metric: 'cpu', scope: { kind: 'system' }, comparison: 'above', threshold: { value: 1.5, unit: 'cores', text: '1.5 cores' }, ...DEFAULTS, location: at(12) },
      { name: 'worker', metric: 'cpu', scope: { kind: 'pid', pid: 4242 }, comparison: 'above', threshold: { value: 2, unit: 'cores', text: '2cores' }, ...DEFAULTS, location: at(15) },
      {
        name: 'nginx-rss',
        metric: 'rss',
        scope: { kind: 'cgroup', path: '/system.slice/nginx.service' },
        comparison: 'above',
        threshold: { value: 512 * 1024 * 1024, unit: 'bytes', text: '512MiB' },
        ...DEFAULTS,
        location: at(19),
      },
      {
        name: 'api-leak',
        metric: 'rss_growth',
        scope: { kind: 'unit', name: 'api.service' },
        comparison: 'above',
        threshold: { value: (10 * 1024 * 1024) / 60, unit: 'bytes_per_second', text: '10MiB/min' },
        ...DEFAULTS,
        location: at(23),
      },
      {
        name: 'cache-thrash',
        metric: 'cache_miss_rate',
        scope: { kind: 'system' },
        comparison: 'above',
        threshold: { value: 5000, unit: 'per_second', text: '5000/s' },
        ...DEFAULTS,
        location: at(28),
      },
      { name: 'cpu-stall', metric: 'psi_cpu', scope: { kind: 'system' }, comparison: 'above', threshold: { value: 20, unit: 'percent', text: '20%' }, ...DEFAULTS, location: at(32) },
      { name: 'mem-stall', metric: 'psi_memory', scope: { kind: 'system' }, comparison: 'below', threshold: { value: 0.5, unit: 'percent', text: '0.5%' }, ...DEFAULTS, location: at(35) },
      { name: 'io-stall', metric: 'psi_io', scope: { kind: 'system' }, comparison: 'above', threshold: { value: 35, unit: 'percent', text: '35%' }, ...DEFAULTS, location: at(38) },
    ];
    expect(rules.slice(1)).toEqual(expected);
  });

  it('does not check notify names when no notifiers are given', () => {
    const file = 'rules:\n  - { name: a, metric: cpu, above: 50%, notify: [anyone] }\n';
    expect(parseRulesFile(file, 'f.yaml').problems).toEqual([]);
  });

  it('takes an empty rules list (or rules: with nothing under it) as no rules', () => {
    expect(parseRulesFile('rules: []\n', 'f.yaml')).toEqual({ rules: [], problems: [] });
    expect(parseRulesFile('rules:\n  # - name: later\n', 'f.yaml')).toEqual({ rules: [], problems: [] });
  });
});

describe('threshold units', () => {
  it.each([
    ['cpu', '250%', 250, 'percent'],
    ['cpu', '1 core', 1, 'cores'],
    ['rss', '100B', 100, 'bytes'],
    ['rss', '1.5 KiB', 1536, 'bytes'],
    ['rss', '2GiB', 2 * 1024 ** 3, 'bytes'],
    ['rss', '1TiB', 1024 ** 4, 'bytes'],
    ['rss_growth', '512KiB/s', 512 * 1024, 'bytes_per_second'],
    ['rss_growth', '1GiB/h', 1024 ** 3 / 3600, 'bytes_per_second'],
    ['rss_growth', '10 MiB / min', (10 * 1024 ** 2) / 60, 'bytes_per_second'],
    ['rss_growth', '-1MiB/s', -(1024 ** 2), 'bytes_per_second'],
    ['cache_miss_rate', '6000/min', 100, 'per_second'],
    ['psi_io', '100%', 100, 'percent'],
  ] as const)('%s %s → %d %s', (metric, text, value, unit) => {
    expect(parseThreshold(text, metric)).toEqual({ ok: true, threshold: { value, unit, text: text.trim() } });
  });
});

/** A valid rule, for the bad cases that break one line of it. */
const rule = (...lines: string[]) => `rules:\n  - name: db-spin\n${lines.map((line) => `    ${line}\n`).join('')}`;

describe('parseRulesFile on bad files', () => {
  // [what, file, expected `LINE:COL: message` substring]. Lines: 1 `rules:`, 2 `- name:`, 3.. the given ones.
  const cases: [string, string, string][] = [
    ['unknown metric', rule('metric: cpus', 'above: 90%'), '3:13: unknown metric "cpus": known metrics are cpu, rss, rss_growth, cache_miss_rate, psi_cpu, psi_memory, psi_io'],
    ['unit unknown anywhere', rule('metric: cpu', 'above: 9 apples'), '4:12: above: unknown unit "apples" in threshold "9 apples": cpu thresholds use % or cores, e.g. 90%, 1.5 cores'],
    ['unit of another metric', rule('metric: cpu', 'above: 512MiB'), '4:12: above: unit "MiB" is not valid for metric cpu (it is for rss): cpu thresholds use % or cores'],
    ['rate unit on rss', rule('metric: rss', 'above: 1MiB/s'), '4:12: above: unit "MiB/s" is not valid for metric rss (it is for rss_growth): rss thresholds use B, KiB, MiB, GiB or TiB'],
    ['percent on cache misses', rule('metric: cache_miss_rate', 'above: 5%'), '4:12: above: unit "%" is not valid for metric cache_miss_rate (it is for cpu, psi_cpu, psi_memory, psi_io)'],
    ['decimal size', rule('metric: rss', 'above: 512MB'), '4:12: above: unknown unit "MB" in threshold "512MB" (decimal sizes are ambiguous: use the binary KiB, MiB, GiB, TiB)'],
    ['number without unit', rule('metric: cpu', 'above: 90'), '4:12: above: threshold 90 has no unit: cpu thresholds use % or cores'],
    ['negative size', rule('metric: rss', 'below: -1MiB'), '4:12: below: threshold "-1MiB" must not be negative'],
    ['psi above 100%', rule('metric: psi_memory', 'above: 120%'), '4:12: above: threshold "120%" is above 100%: psi_memory is a share of time, from 0% to 100%'],
    ['system cpu above 100%', rule('metric: cpu', 'above: 250%'), '4:12: above: cpu on the system scope is a share of all cores, from 0% to 100%, not 250%'],
    ['bad regex', rule('metric: cpu', 'scope: { process: "(post" }', 'above: 90%'), '4:23: scope.process is not a valid regular expression: Invalid regular expression: /(post/: Unterminated group'],
    ['pid not a number', rule('metric: cpu', 'scope: { pid: abc }', 'above: 90%'), '4:19: scope.pid must be a process id (a whole number from 1 to 4194304), not "abc"'],
    ['pid zero', rule('metric: cpu', 'scope: { pid: 0 }', 'above: 90%'), '4:19: scope.pid must be a process id (a whole number from 1 to 4194304), not 0'],
    ['cgroup without /', rule('metric: rss', 'scope: { cgroup: system.slice }', 'above: 1GiB'), '4:22: scope.cgroup must be a path below /sys/fs/cgroup starting with "/"'],
    ['unit without suffix', rule('metric: rss', 'scope: { unit: nginx }', 'above: 1GiB'), '4:20: scope.unit must be a systemd unit name with its type suffix (.service, .scope, .slice, .socket, .mount or .swap), e.g. nginx.service, not "nginx"'],
    ['two scope kinds', rule('metric: cpu', 'scope: { pid: 1, unit: a.service }', 'above: 90%'), '4:12: scope must have exactly one of process, pid, cgroup, unit: not pid and unit'],
    ['unknown scope word', rule('metric: cpu', 'scope: host', 'above: 90%'), '4:12: scope must be system or a mapping with one of process, pid, cgroup, unit'],
    ['unknown scope key', rule('metric: cpu', 'scope: { comm: nginx }', 'above: 90%'), '4:14: unknown key "comm": allowed keys in scope are process, pid, cgroup, unit'],
    ['both above and below', rule('metric: cpu', 'above: 90%', 'below: 10%'), '5:5: use either "above" or "below", not both'],
    ['neither above nor below', rule('metric: cpu', 'for: 30s'), '2:5: missing threshold: add "above:" or "below:", e.g. above: 90%'],
    ['unknown key', rule('metric: cpu', 'above: 90%', 'treshold: 80%'), '5:5: unknown key "treshold": allowed keys in a rule are name, metric, scope, above, below, for, capture, cooldown, max_per_day, notify'],
    ['missing metric', rule('above: 90%'), '2:5: missing "metric": one of cpu, rss'],
    ['negative duration', rule('metric: cpu', 'above: 90%', 'for: -30s'), '5:10: for must not be negative, not "-30s"'],
    ['bad duration text', rule('metric: cpu', 'above: 90%', 'cooldown: soon'), '5:15: cooldown: invalid duration "soon": use a number with a unit (ms, s, m, h, d)'],
    ['duration without unit', rule('metric: cpu', 'above: 90%', 'for: 30'), '5:10: for needs a unit: write 30s (or ms, m, h, d)'],
    ['capture.after over 10m', rule('metric: cpu', 'above: 90%', 'capture: { after: 20m }'), '5:23: capture.after must be at most 10m (the incident waits for it; capture.before at most 1h), not 20m'],
    ['capture.before over 1h', rule('metric: cpu', 'above: 90%', 'capture:', '  before: 2h'), '6:15: capture.before must be at most 1h'],
    ['negative capture', rule('metric: cpu', 'above: 90%', 'capture: { before: -1m }'), '5:24: capture.before must not be negative, not "-1m"'],
    ['unknown capture key', rule('metric: cpu', 'above: 90%', 'capture: { during: 5s }'), '5:16: unknown key "during": allowed keys in capture are before, after'],
    ['max_per_day 0', rule('metric: cpu', 'above: 90%', 'max_per_day: 0'), '5:18: max_per_day must be a positive whole number (1 or more), not 0'],
    ['max_per_day fraction', rule('metric: cpu', 'above: 90%', 'max_per_day: 2.5'), '5:18: max_per_day must be a positive whole number (1 or more), not 2.5'],
    ['unknown notifier', rule('metric: cpu', 'above: 90%', 'notify: [oncall-slack, pager]'), '5:28: unknown notifier "pager": tail2.yaml defines oncall-slack, oncall-email'],
    ['notify not a list', rule('metric: cpu', 'above: 90%', 'notify: oncall-slack'), '5:13: notify must be a list of notifier names, e.g. [oncall-slack], not "oncall-slack"'],
    ['bad name chars', 'rules:\n  - name: DB_spin\n    metric: cpu\n    above: 90%\n', '2:11: name "DB_spin" may only contain lowercase letters a-z, digits 0-9 and -'],
    ['numeric name', 'rules:\n  - name: 404\n    metric: cpu\n    above: 90%\n', '2:11: name must be text of a-z, 0-9 and - (quote a name that looks like a number: name: "404")'],
    ['missing name', 'rules:\n  - metric: cpu\n    above: 90%\n', '2:5: missing "name": every rule needs a unique name'],
    [
      'duplicate name',
      'rules:\n  - name: db-spin\n    metric: cpu\n    above: 90%\n  - name: db-spin\n    metric: rss\n    above: 1GiB\n',
      '5:11: duplicate rule name "db-spin": already used by the rule at line 2',
    ],
    ['rule not a mapping', 'rules:\n  - cpu above 90%\n', '2:5: a rule must be a mapping, e.g. { name: db-spin, metric: cpu, above: 90% }, not "cpu above 90%"'],
    ['rules not a list', 'rules: db-spin\n', '1:8: "rules" must be a list of rules, each starting with "- name: ...", not "db-spin"'],
    ['rules is a mapping', 'rules:\n  name: db-spin\n', '2:3: "rules" must be a list of rules, each starting with "- name: ...", not a mapping'],
    ['unknown top-level key', 'rule:\n  - name: db-spin\n', '1:1: unknown key "rule": the only top-level key is "rules"'],
    ['top level is a list', '- name: db-spin\n', '1:1: a rules file must be a mapping with a top-level "rules:" list, not a list'],
    ['empty file', '', '1:1: the rules file is empty: it needs a top-level "rules:" list'],
    ['comments only', '# rules come later\n', '1:1: the rules file is empty'],
    ['YAML unclosed bracket', rule('metric: cpu', 'above: 90%', 'notify: [oncall-slack'), '6:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['YAML bad indentation', 'rules:\n  - name: db-spin\n  metric: cpu\n', '3:1: YAML syntax error: All mapping items must start at the same column'],
    ['YAML tab indentation', 'rules:\n\t- name: db-spin\n', '2:1: YAML syntax error: Tabs are not allowed as indentation'],
    ['YAML duplicate key', rule('metric: cpu', 'metric: rss', 'above: 90%'), '4:5: YAML syntax error: Map keys must be unique'],
  ];

  it('has a case for each kind of mistake', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  it.each(cases)('%s', (what, text, expected) => {
    const { rules, problems } = parseRulesFile(text, 'bad.yaml', { notifiers: NOTIFIERS });
    expect(problems.map(formatProblem).join('\n')).toContain(`bad.yaml:${expected}`);
    // A rule with a problem is left out; of two rules with one name, the first one stays.
    expect(rules.map((r) => r.name)).toEqual(what === 'duplicate name' ? ['db-spin'] : []);
  });

  it('leaves out only the rules with problems', () => {
    const text = 'rules:\n  - { name: good, metric: cpu, above: 50% }\n  - { name: bad, metric: cpu, above: 5GiB }\n  - { name: good, metric: rss, above: 1GiB }\n';
    const { rules, problems } = parseRulesFile(text, 'mixed.yaml');
    expect(rules.map((r) => [r.name, r.location.line])).toEqual([['good', 2]]);
    expect(problems.map((p) => p.location.line)).toEqual([3, 4]);
  });

  it('reports all problems at once, in file order', () => {
    // zod finds the unknown key after the bad metric, and the threshold is checked after both:
    // the output must still follow the file.
    const text = 'rules:\n  - name: a\n    colour: red\n    metric: cpus\n    above: 90\n';
    const { problems } = parseRulesFile(text, 'three.yaml');
    expect(problems.map(formatProblem)).toEqual([
      'three.yaml:3:5: unknown key "colour": allowed keys in a rule are name, metric, scope, above, below, for, capture, cooldown, max_per_day, notify',
      'three.yaml:4:13: unknown metric "cpus": known metrics are cpu, rss, rss_growth, cache_miss_rate, psi_cpu, psi_memory, psi_io',
      'three.yaml:5:12: above: threshold 90 has no unit: write a number with a unit, e.g. 90%, 512MiB, 10MiB/min, 5000/s',
    ]);
  });

  it.each([
    // [what, text, where the parser noticed, what began where]
    ['an unclosed [ cut off by the next key', 'rules:\n  - name: a\n    notify: [slack, email\n    metric: cpu\n', '4:5', 'flow sequence "[" that is not closed began at 3:13'],
    ['an unclosed { at the end of the file', 'rules:\n  - {name: a, metric: cpu\n', '3:1', 'flow mapping "{" that is not closed began at 2:5'],
    ['an unclosed double quote', 'rules:\n  - name: "db spin\n    metric: cpu\n', '4:1', 'double-quoted string that is not closed began at 2:11'],
    ['a double quote escaped at the end', 'rules:\n  - name: "db\\"\n    metric: cpu\n', '4:1', 'double-quoted string that is not closed began at 2:11'],
    ["a single quote doubled at the end", "rules:\n  - name: 'it''\n    metric: cpu\n", '4:1', 'single-quoted string that is not closed began at 2:11'],
  ])('says where %s began', (_what, text, noticed, began) => {
    const [problem, ...others] = parseRulesFile(text, 'open.yaml').problems.map(formatProblem);
    expect(others).toEqual([]);
    expect(problem).toMatch(new RegExp(`^open\\.yaml:${noticed}: YAML syntax error: .*\\(the ${began.replace(/[[{]/g, '\\$&')}\\)$`));
  });

  it('pairs nested unclosed collections with their own errors, innermost first', () => {
    const problems = parseRulesFile('rules:\n  - [1, {x: 2\n  - 3\n', 'nested.yaml').problems.map(formatProblem);
    expect(problems).toEqual([
      'nested.yaml:3:3: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a } (the flow mapping "{" that is not closed began at 2:9)',
      'nested.yaml:3:3: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ] (the flow sequence "[" that is not closed began at 2:5)',
    ]);
  });

  it('names no beginning for errors about the spot itself, nor for closed constructs', () => {
    const problems = parseRulesFile('rules:\n  - { name: a, notify: [x] }\n\t- name: b\n', 'tabs.yaml').problems.map(formatProblem);
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).not.toContain('not closed began');
  });

  it('reports several YAML syntax errors with their own positions', () => {
    const text = 'rules:\n  - name: a\n    metric: cpu\n    above: 9%\n    above: 1%\n  - name: b\n    metric: cpu\n    metric: rss\n';
    expect(parseRulesFile(text, 'syntax.yaml').problems.map(formatProblem)).toEqual([
      'syntax.yaml:5:5: YAML syntax error: Map keys must be unique',
      'syntax.yaml:8:5: YAML syntax error: Map keys must be unique',
    ]);
  });
});

describe('formatProblem', () => {
  it('writes FILE:LINE:COL: message', () => {
    expect(formatProblem({ location: { file: '/etc/tail2/rules.yaml', line: 12, col: 7 }, message: 'unknown metric "x"' })).toBe('/etc/tail2/rules.yaml:12:7: unknown metric "x"');
  });
});

describe('files on disk and the rules check command', () => {
  let dir = '';
  const paths = { good: '', bad: '', config: '', configWithout: '', configBroken: '' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tail2-rules-'));
    paths.good = join(dir, 'good.yaml');
    paths.bad = join(dir, 'bad.yaml');
    paths.config = join(dir, 'tail2.yaml');
    paths.configWithout = join(dir, 'no-notifiers.yaml');
    paths.configBroken = join(dir, 'broken.yaml');
    await writeFile(paths.good, GOOD);
    await writeFile(paths.bad, 'rules:\n  - name: a\n    metric: cpus\n    above: 90%\n    for: -5s\n');
    await writeFile(paths.config, 'sampling: { frequency: 99 }\nnotifiers:\n  oncall-slack: { type: slack, token: "${SLACK_BOT_TOKEN}", channel: C0123456 }\n  team-hook: { type: slack_webhook, url: "${SLACK_WEBHOOK_URL}" }\n');
    await writeFile(paths.configWithout, 'state_dir: /var/lib/tail2\n');
    await writeFile(paths.configBroken, 'notifiers: [a\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** Runs `tail2 rules check ARGS` in-process and collects what it printed and its exit code. */
  async function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    // showHelpAfterError as in tail2.ts: a bad rules file must still print only its problems.
    const program = new Command('tail2').showHelpAfterError().exitOverride().configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
    registerRulesCommand(program);
    try {
      await program.parseAsync(['rules', 'check', ...args], { from: 'user' });
      return { code: 0, stdout, stderr };
    } catch (error) {
      if (error instanceof CommanderError) return { code: error.exitCode, stdout, stderr };
      throw error;
    }
  }

  it('loadRulesFile returns the rules of a good file', async () => {
    const rules = await loadRulesFile(paths.good);
    expect(rules).toHaveLength(9);
    expect(rules[0].location.file).toBe(paths.good);
  });

  it('loadRulesFile throws a RulesFileError carrying every problem', async () => {
    const error = await loadRulesFile(paths.bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RulesFileError);
    expect(error).toBeInstanceOf(Tail2Error);
    const rulesError = error as RulesFileError;
    expect(rulesError.code).toBe('TAIL2_RULES');
    expect(rulesError.problems).toHaveLength(2);
    expect(rulesError.message).toBe(`${paths.bad}:3:13: unknown metric "cpus": known metrics are cpu, rss, rss_growth, cache_miss_rate, psi_cpu, psi_memory, psi_io\n${paths.bad}:5:10: for must not be negative, not "-5s"`);
  });

  it('loadRulesFile names a file it cannot read', async () => {
    const missing = join(dir, 'missing.yaml');
    const error = await loadRulesFile(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Tail2Error);
    expect(error).not.toBeInstanceOf(RulesFileError);
    expect((error as Tail2Error).code).toBe('TAIL2_RULES');
    expect((error as Error).message).toContain(missing);
  });

  it('prints FILE: N rules OK and exits 0 for a good file', async () => {
    expect(await check(paths.good)).toEqual({ code: 0, stdout: `${paths.good}: 9 rules OK\n`, stderr: '' });
  });

  it('prints every problem as FILE:LINE:COL: message and exits 1 for a bad file', async () => {
    const result = await check(paths.bad);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `${paths.bad}:3:13: unknown metric "cpus": known metrics are cpu, rss, rss_growth, cache_miss_rate, psi_cpu, psi_memory, psi_io`,
      `${paths.bad}:5:10: for must not be negative, not "-5s"`,
    ]);
  });

  it('exits 1 naming a rules file that does not exist', async () => {
    const result = await check(join(dir, 'nope.yaml'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(join(dir, 'nope.yaml'));
  });

  it('checks notify names against the notifiers of --config', async () => {
    const result = await check(paths.good, '--config', paths.config);
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd()).toBe(`${paths.good}:11:28: unknown notifier "oncall-email": tail2.yaml defines oncall-slack, team-hook`);

    const ok = join(dir, 'ok.yaml');
    await writeFile(ok, 'rules:\n  - { name: a, metric: cpu, above: 50%, notify: [team-hook] }\n');
    expect(await check(ok, '--config', paths.config)).toEqual({ code: 0, stdout: `${ok}: 1 rules OK\n`, stderr: '' });
  });

  it('takes a config without notifiers as defining none', async () => {
    const result = await check(paths.good, '--config', paths.configWithout);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${paths.good}:11:14: unknown notifier "oncall-slack": tail2.yaml defines no notifiers`);
  });

  it('exits 1 naming a config that is missing or broken', async () => {
    const missing = join(dir, 'no-such-tail2.yaml');
    const result = await check(paths.good, '--config', missing);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot read config ${missing}`);

    const broken = await check(paths.good, '--config', paths.configBroken);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`^${paths.configBroken}:\\d+:\\d+: YAML syntax error: `));
  });

  it('says where an unclosed bracket began, in the rules file and in --config', async () => {
    const open = join(dir, 'open.yaml');
    await writeFile(open, 'rules:\n  - name: a\n    notify: [oncall-slack\n    metric: cpu\n    above: 90%\n');
    const result = await check(open);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe(`${open}:4:5: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ] (the flow sequence "[" that is not closed began at 3:13)`);

    const broken = await check(paths.good, '--config', paths.configBroken);
    expect(broken.stderr).toContain('(the flow sequence "[" that is not closed began at 1:12)');
  });
});

describe('the rules shown in the README', () => {
  it('are valid, one per metric', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    const block = /One rule per metric, to start from:\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const { rules, problems } = parseRulesFile(block!, 'README.md');
    expect(problems).toEqual([]);
    expect(new Set(rules.map((rule) => rule.metric))).toEqual(new Set(METRIC_NAMES));
  });
});
