import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../daemon/model/located-problem.js';
import { parseConfig } from '../../daemon/config/load-config.js';
import { parseSize } from '../../daemon/model/size.js';

const env = { SLACK_BOT_TOKEN: 'xoxb-test-token' };

describe('tail2.yaml', () => {
  it('applies defaults and makes paths absolute from the config file folder', () => {
    const { config, problems } = parseConfig('state_dir: ../state\nrules_file: rules.yaml\n', '/etc/tail2/tail2.yaml', env);
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      sampling: { frequency: 99, pageFaults: { mode: 'auto', periodFaults: 256 } },
      buffer: { retainMs: 600_000, maxMemoryBytes: 256 * 1024 * 1024 },
      stateDir: '/etc/state',
      rulesFile: '/etc/tail2/rules.yaml',
      web: { listen: { host: '127.0.0.1', port: 8383 }, publicUrl: 'http://127.0.0.1:8383' },
      redis: {},
      redact: { defaults: true, names: [], urlUserinfo: true },
      capture: { includeIdle: false },
      notifiers: {},
    });
  });

  it('reads redact: extra names (lower-cased), the defaults and URL userinfo switched off', () => {
    const { config, problems } = parseConfig('redact: { names: [PIN, session_id], defaults: false, url_userinfo: false }\n', '/etc/tail2/tail2.yaml', env);
    expect(problems).toEqual([]);
    expect(config?.redact).toEqual({ defaults: false, names: ['pin', 'session_id'], urlUserinfo: false });
  });

  it('reads every key, with secrets from the environment', () => {
    const text = [
      'sampling: { frequency: 49, page_faults: { mode: on, period: 64 } }',
      'buffer: { retain: 5m, max_memory: 128MiB }',
      'state_dir: /var/lib/tail2',
      'web: { listen: "0.0.0.0:9000", public_url: "https://tail2.example.com/", token: "0123456789abcdef0123" }',
      'redis: { url: "redis://127.0.0.1:6379" }',
      'rules_file: /etc/tail2/rules.yaml',
      'store: { max_incidents: 500, max_age: 7d, max_disk: 1GiB }',
      'capture: { include_idle: true }',
      'notifiers:',
      '  oncall-slack: { type: slack, token: "${SLACK_BOT_TOKEN}", channel: C0123456, api_url: "http://127.0.0.1:9999/api/" }',
      '  oncall-email: { type: email, smtp: "smtp://mail.internal:25", from: tail2@host, to: [oncall@example.com] }',
      '  team-hook: { type: slack_webhook, url: "https://hooks.example.com/T/B/x" }',
    ].join('\n');
    const { config, problems } = parseConfig(text, '/etc/tail2/tail2.yaml', env);
    expect(problems).toEqual([]);
    expect(config?.sampling.pageFaults).toEqual({ mode: 'on', periodFaults: 64 });
    expect(config?.buffer).toEqual({ retainMs: 300_000, maxMemoryBytes: 128 * 1024 * 1024 });
    expect(config?.web.publicUrl).toBe('https://tail2.example.com');
    expect(config?.store).toEqual({ maxIncidents: 500, maxAgeMs: 7 * 86_400_000, maxDiskBytes: 1024 ** 3 });
    expect(config?.capture).toEqual({ includeIdle: true });
    expect(config?.notifiers['oncall-slack']).toEqual({ type: 'slack', token: 'xoxb-test-token', channel: 'C0123456', apiUrl: 'http://127.0.0.1:9999/api/' });
    expect(config?.notifiers['oncall-email']).toMatchObject({ type: 'email', to: ['oncall@example.com'] });
  });

  it.each([
    ['sampling: { frequency: 0 }', '1:24', 'expected number to be >=1'],
    ['sampling: { page_faults: { mode: sometimes } }', '1:34', 'expected one of "auto"|"on"|"off"'],
    ['sampling: { page_faults: { period: 0.5 } }', '1:36', 'expected int'],
    ['buffer: { retain: 10 minutes }', '1:19', 'invalid duration "10 minutes"'],
    ['buffer: { max_memory: 1GB }', '1:23', 'invalid size "1GB"'],
    ['web: { listen: "localhost" }', '1:16', 'invalid listen address "localhost"'],
    ['web: { listen: "0.0.0.0:8383" }', '1:16', 'needs web.token'],
    ['web: { token: short }', '1:15', 'at least 16 characters'],
    ['redis: { url: "http://x" }', '1:15', 'must be a redis://, rediss:// or unix:///path/to/socket URL'],
    ['samplng: { frequency: 99 }', '1:1', 'unknown key "samplng"'],
    ['notifiers:\n  a: { type: slack, token: "${NOT_SET}", channel: C1 }', '2:28', 'environment variable NOT_SET is not set'],
    ['notifiers:\n  a: { type: pager, to: x }', '2:14', "Expected 'slack' | 'slack_webhook' | 'email'"],
    ['notifiers:\n  a: { type: email, smtp: "mail:25", from: a@b, to: [c@d] }', '2:27', 'smtp:// or smtps://'],
    ['web: [', '1:7', 'YAML syntax error'],
    ['redact:\n  names: [pin, "(a+)+"]', '2:16', 'a name to redact is a plain word'],
    ['redact: { defaults: no-thanks }', '1:21', 'expected boolean'],
    ['redact: { patterns: [x] }', '1:11', 'unknown key "patterns"'],
    ['capture: { include_idle: sometimes }', '1:26', 'expected boolean'],
    ['capture: { idle: true }', '1:12', 'unknown key "idle"'],
  ])('reports %j at %s', (text, at, message) => {
    const { config, problems } = parseConfig(text, 'tail2.yaml', env);
    expect(config).toBeUndefined();
    const lines = problems.map(formatProblem);
    expect(lines.some((line) => line.startsWith(`tail2.yaml:${at}: `) && line.includes(message)), lines.join('\n')).toBe(true);
  });

  it('says where an unclosed bracket or quote began, not only where the parser noticed', () => {
    const lines = (text: string) => parseConfig(text, 'tail2.yaml', env).problems.map(formatProblem);
    expect(lines('state_dir: /var/lib/tail2\nweb: { listen: "127.0.0.1:8383"\nrules_file: rules.yaml\n')).toEqual([
      'tail2.yaml:3:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a } (the flow mapping "{" that is not closed began at 2:6)',
    ]);
    expect(lines('notifiers:\n  a: { type: slack, token: "${SLACK_BOT_TOKEN}, channel: C1 }\nstate_dir: x\n')).toEqual([
      expect.stringMatching(/^tail2\.yaml:4:1: YAML syntax error: Missing closing "quote \(the double-quoted string that is not closed began at 2:28\)$/),
      expect.stringMatching(/^tail2\.yaml:4:1: .*\(the flow mapping "\{" that is not closed began at 2:6\)$/),
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const { problems } = parseConfig('sampling: { frequency: -1 }\nbuffer: { retain: soon }\nweb: { listen: nope }\n', 'tail2.yaml', env);
    expect(problems.map((p) => p.location.line)).toEqual([1, 2, 3]);
  });

  it('parses sizes', () => {
    expect(parseSize('256MiB')).toBe(256 * 1024 * 1024);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize(4096)).toBe(4096);
    expect(() => parseSize('12 parsecs')).toThrow(/invalid size/);
  });
});
