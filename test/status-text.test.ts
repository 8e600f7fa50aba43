import { describe, expect, it } from 'vitest';
import { formatStatus } from '../daemon/cli/status-text.js';

describe('tail2 status (text)', () => {
  it('says what a person needs at 3am: sampling, slow-down, store errors, Redis, the outbox, failures', () => {
    const lines = formatStatus({
      version: '0.1.0',
      host: 'db-1',
      uptime_s: 3600,
      sampler: { running: true, frequency: 49, configured_frequency: 99, backoff: { frequency: 49, since: '2026-11-25T03:00:00.000Z', reason: 'tail2d used 31.0% of a core' }, cpus: 8, samples: 1000, lost: 2, dropped_in_userspace: 0 },
      buffer: { span_s: 600, bytes: 12 * 1048576, max_bytes: 256 * 1048576, evicted_early_samples: 0 },
      rules: { count: 4, file: '/etc/tail2/rules.yaml', last_reload: { ok: false, error: 'rules.yaml:3:5: unknown metric' }, unavailable: [{ rule: 'cache', metric: 'cache_miss_rate' }] },
      captures: { written: 3, in_flight: [{ id: 'x' }], last_error: null },
      store: { incidents: 3, bytes: 3 * 1048576, lastError: { code: 'ENOSPC', message: 'no space left on device' } },
      notifications: {
        redis: { reachable: false, error: 'connect ECONNREFUSED', where: 'redis://127.0.0.1:6379', policy_problem: null },
        outbox: 2,
        targets: [{ target: 'oncall-slack', waiting: 0, delayed: 2, active: 0, failed: 1 }],
      },
      self: { pid: 77, cpu_percent_of_core: 1.5, rss_bytes: 120 * 1048576, excluded_from_rules: [77, 78] },
      metrics: { unavailable: [{ metric: 'cache_miss_rate', reason: 'no hardware PMU' }] },
    });
    const text = lines.join('\n');
    expect(lines[0]).toBe('tail2d 0.1.0 on db-1, up 3600 s');
    expect(text).toContain('sampling at 49 Hz on 8 CPUs; 1000 samples, 2 lost, 0 dropped');
    expect(text).toContain('slowed down from 99 Hz since 2026-11-25T03:00:00.000Z: tail2d used 31.0% of a core');
    expect(text).toContain('last reload FAILED (the previous rules stay in force): rules.yaml:3:5: unknown metric');
    expect(text).toContain('captures: 3 written, 1 in flight');
    const troubled = formatStatus({ version: '0.1.0', host: 'h', uptime_s: 1, sampler: { running: true }, buffer: {}, rules: { count: 0 }, captures: { written: 3, degraded: 1, lost: 2, in_flight: [] } }).join('\n');
    expect(troubled).toContain('captures: 3 written, 1 without some parts (see problems in incident.json), 2 LOST (could not be written), 0 in flight');
    expect(text).toContain('store:    3 incidents, 3.0 MiB on disk; last error ENOSPC: no space left on device');
    expect(text).toContain('notify:   Redis UNREACHABLE (connect ECONNREFUSED) at redis://127.0.0.1:6379; 2 in the outbox');
    expect(text).toContain('oncall-slack: 0 waiting, 2 retrying later, 1 failed');
    expect(text).toContain('self:     pid 77, 1.5% of a core, 120.0 MiB RSS; never fires its rules on pids 77, 78');
    expect(text).toContain('unavailable: cache_miss_rate: no hardware PMU');
    expect(text).toContain('rule cache cannot fire here');
  });

  it('reads a daemon without notifiers, and one from before a part existed', () => {
    const lines = formatStatus({ version: '0.1.0', host: 'h', uptime_s: 1, sampler: { running: true, frequency: 99, cpus: 2, samples: 5, lost: 0 }, buffer: {}, rules: { count: 0 }, captures: { written: 0, in_flight: [] }, notifications: { enabled: false, reason: 'no notifiers configured in tail2.yaml' } });
    expect(lines).toContain('notify:   off (no notifiers configured in tail2.yaml)');
    expect(lines.some((line) => line.startsWith('self:'))).toBe(false);
  });

  it('shows the memory budget by part and the files symbolization refused, escaping what a process named', () => {
    const lines = formatStatus({
      version: '0.1.0',
      host: 'h',
      uptime_s: 1,
      sampler: {},
      buffer: {},
      rules: {},
      captures: {},
      memory: { max_bytes: 64 * 1048576, bytes: 3 * 1048576, parts: { samples: 1048576, processes: 2 * 1048576 }, evicted: { samples: 2, processes: 1 }, heap_used_bytes: 30 * 1048576, rss_bytes: 110 * 1048576 },
      symbols: {
        problems: { counts: { ENOTREG: 2, ETIMEDOUT: 1 }, recent: [{ file: '/tmp/perf-42.map\u001b]0;pwned\u0007\nfake line', code: 'ENOTREG', message: 'is a FIFO, not a regular file' }] },
        quarantined: 1,
        readers: [{ timeouts: 1, crashes: 0 }, { timeouts: 0, crashes: 0 }],
      },
    });
    const text = lines.join('\n');
    expect(text).toContain('memory:   3.0 MiB of the 64.0 MiB budget (samples 1.0 MiB, processes 2.0 MiB); 3 things evicted to stay within it; V8 heap 30.0 MiB, RSS 110.0 MiB');
    expect(text).toContain('symbols:  ENOTREG 2, ETIMEDOUT 1; 1 files set aside; tail2-reader restarted 1 times');
    expect(text).toContain('/tmp/perf-42.map\\x1b]0;pwned\\x07\\x0afake line: ENOTREG is a FIFO');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/); // only the line breaks between lines
  });
});
