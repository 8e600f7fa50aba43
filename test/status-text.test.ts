import { describe, expect, it } from 'vitest';
import { formatStatus } from '../daemon/cli/status-text.js';
import { daemonStatusSchema, type DaemonStatus } from '../daemon/model/daemon-status.js';
import { quietDaemonStatus, quietMemoryBreakdown } from './helpers/daemon-status.js';

const MIB = 1048576;

/**
 * What Tail2Daemon.status() returns on an 8-CPU host in trouble at 3am: sampling slowed down,
 * the last rules reload failed, the disk full, Redis unreachable, a capture in flight.
 */
function troubledStatus(): DaemonStatus {
  const quiet = quietDaemonStatus(Date.parse('2026-11-25T03:10:00.000Z'));
  return {
    ...quiet,
    uptime_s: 3600,
    sampler: {
      ...quiet.sampler,
      frequency: 49,
      configured_frequency: 99,
      backoff: { frequency: 49, since: '2026-11-25T03:00:00.000Z', reason: 'tail2d used 31.0% of a core' },
      cpus: 8,
      samples: 1000,
      lost: 2,
      page_faults: { mode: 'auto', on: false, reason: 'wanted (rule leak watches resident memory (sampling.page_faults.mode is auto)) but it could not be switched on', period_faults: 256, samples: 0, error: 'open the page-faults perf event on CPU 3 failed with EMFILE' },
    },
    buffer: { ...quiet.buffer, span_s: 600, bytes: 12 * MIB, max_bytes: 256 * MIB, evicted_early_samples: 0 },
    rules: {
      count: 4,
      file: '/etc/tail2/rules.yaml',
      last_reload: { at_ms: Date.parse('2026-11-25T03:05:00.000Z'), ok: false, error: 'rules.yaml:3:5: unknown metric' },
      unavailable: [{ rule: 'cache', metric: 'cache_miss_rate', reason: 'no hardware PMU' }],
    },
    captures: { in_flight: [{ id: '20261125T030955Z-db-spin-4f2a9c', rule: 'db-spin', at_ms: Date.parse('2026-11-25T03:09:55.000Z'), attempts: 1, pinned: false }], written: 3, degraded: 0, lost: 0, last_error: null },
    store: { incidents: 3, missing: 0, bytes: 3 * MIB, last_error: { at_ms: Date.parse('2026-11-25T03:09:58.000Z'), code: 'ENOSPC', message: 'no space left on device' }, db_path: '/var/lib/tail2/index.sqlite', incidents_dir: '/var/lib/tail2/incidents' },
    notifications: {
      redis: { reachable: false, error: 'connect ECONNREFUSED', maxmemory_policy: null, policy_problem: null, where: 'redis://127.0.0.1:6379', managed: null, start_error: null },
      outbox: 2,
      targets: [{ target: 'oncall-slack', waiting: 0, delayed: 2, active: 0, failed: 1, completed: 4 }],
      last_dispatch_error: null,
    },
    self: { pid: 77, cpu_percent_of_core: 1.5, rss_bytes: 120 * MIB, heap_used_bytes: 30 * MIB, excluded_from_rules: [77, 78] },
    metrics: { last_collect: '2026-11-25T03:09:59.600Z', cost_ms: 2.1, processes: 1200, cgroups: 40, process_source: 'proc', process_source_reason: 'the BPF task iterator could not be loaded (EPERM)', early_rounds: 4, unavailable: [{ metric: 'cache_miss_rate', reason: 'no hardware PMU' }] },
  } satisfies DaemonStatus;
}

describe('tail2 status (text)', () => {
  it('says what a person needs at 3am: sampling, slow-down, store errors, Redis, the outbox, failures', () => {
    const status = troubledStatus();
    // The fixtures are what the type says, to the field.
    expect(daemonStatusSchema.parse(status)).toEqual(status);
    const lines = formatStatus(status);
    const text = lines.join('\n');
    expect(lines[0]).toBe('tail2d 0.1.0 on db-1, up 3600 s');
    expect(text).toContain('sampling at 49 Hz on 8 CPUs; 1000 samples, 2 lost, 0 dropped');
    expect(text).toContain('slowed down from 99 Hz since 2026-11-25T03:00:00.000Z: tail2d used 31.0% of a core');
    // The slow-down line belongs to the sampler's; the page-fault profile's follows, with why it is off.
    expect(lines.findIndex((line) => line.includes('slowed down from'))).toBe(lines.findIndex((line) => line.startsWith('sampler:')) + 1);
    expect(text).toContain('faults:   page-fault profile off: wanted (rule leak watches resident memory (sampling.page_faults.mode is auto)) but it could not be switched on: open the page-faults perf event on CPU 3 failed with EMFILE');
    expect(formatStatus(quietDaemonStatus()).join('\n')).toContain('faults:   page-fault profile on, a sample per 256 faults, 310 samples: rule leak watches resident memory (sampling.page_faults.mode is auto)');
    expect(text).toContain('buffer:   600 s held, 12.0 MiB of 256.0 MiB; 0 samples evicted early');
    expect(text).toContain('last reload FAILED (the previous rules stay in force): rules.yaml:3:5: unknown metric');
    expect(text).toContain('captures: 3 written, 1 in flight');
    expect(text).toContain('metrics:  1200 processes, 40 cgroups, last round 2.1 ms, 4 rounds run early for cpu rules; per-process CPU and RSS from the /proc/PID/stat (the BPF task iterator could not be loaded (EPERM))');
    const quiet = quietDaemonStatus();
    const troubled = formatStatus({ ...quiet, captures: { in_flight: [], written: 3, degraded: 1, lost: 2, last_error: '20261125T030000Z-manual-abcdef: lost: EIO: i/o error' } }).join('\n');
    expect(troubled).toContain('captures: 3 written, 1 without some parts (see problems in incident.json), 2 LOST (could not be written), 0 in flight; last error: 20261125T030000Z-manual-abcdef: lost: EIO: i/o error');
    expect(text).toContain('store:    3 incidents, 3.0 MiB on disk; last error ENOSPC: no space left on device');
    expect(text).toContain('notify:   Redis UNREACHABLE (connect ECONNREFUSED) at redis://127.0.0.1:6379; 2 in the outbox');
    expect(text).toContain('oncall-slack: 0 waiting, 2 retrying later, 1 failed');
    expect(text).toContain('self:     pid 77, 1.5% of a core, 120.0 MiB RSS; never fires its rules on pids 77, 78');
    expect(text).toContain('unavailable: cache_miss_rate: no hardware PMU');
    expect(text).toContain('rule cache cannot fire here');
  });

  it('shows probed processes with their cost, and what a process named escaped', () => {
    const status = quietDaemonStatus();
    status.probes.processes = [
      { pid: 4242, kind: 'malloc', file: '/srv/app/lib\u001b[2Jevil.so', functions: ['malloc', 'free'], reason: 'rule leak', since: '2026-11-25T03:00:00.000Z', until: '2026-11-25T03:10:00.000Z', calls_per_second: 12_000, overhead: 0.031 },
      {
        pid: 4243,
        kind: 'memcpy',
        file: '/usr/lib/x86_64-linux-gnu/libc.so.6',
        functions: ['memcpy', 'memmove', 'mempcpy'],
        reason: 'tail2 probe',
        since: '2026-11-25T03:00:00.000Z',
        until: '2026-11-25T03:10:00.000Z',
        calls_per_second: 300,
        overhead: 0.001,
        copy_sizes: [
          { from: 256, to: 512, count: 200 },
          { from: 32768, to: 65536, count: 1300 },
          { from: 1073741824, to: null, count: 2 },
        ],
      },
    ];
    status.probes.failures = [{ pid: 77, kind: 'malloc', message: 'cannot probe malloc in PID 77: no mapped file defines malloc and free (looked in /tmp/x\u202ey)', at: '2026-11-25T03:01:00.000Z' }];
    const text = formatStatus(status).join('\n');
    expect(text).toContain('copies by size: 32KiB–64KiB: 1,300; 256B–512B: 200; ≥1GiB: 2');
    expect(text).toContain('pid 4242 (malloc): malloc, free in /srv/app/lib\\x1b[2Jevil.so until 2026-11-25T03:10:00.000Z (rule leak); 12,000 calls/s, ~3.1% of its CPU (at most 5%)');
    expect(text).toContain('looked in /tmp/x\\u202ey)');
    expect(text).not.toMatch(/[\u001b\u202e]/);
  });

  it('reads a daemon without notifiers, and one whose store is closed', () => {
    const quiet = quietDaemonStatus();
    expect(daemonStatusSchema.parse(quiet)).toEqual(quiet);
    const lines = formatStatus({ ...quiet, store: null });
    expect(lines).toContain('notify:   off (no notifiers configured in tail2.yaml)');
    expect(lines.some((line) => line.startsWith('store:'))).toBe(false);
    expect(lines).toContain('captures: 0 written, 0 in flight');
    expect(formatStatus(quiet)).toContain('store:    0 incidents, 0.0 MiB on disk');
  });

  it('shows the memory budget by part and the files symbolization refused, escaping what a process named', () => {
    const quiet = quietDaemonStatus();
    const lines = formatStatus({
      ...quiet,
      memory: { max_bytes: 64 * MIB, bytes: 3 * MIB, parts: { samples: MIB, processes: 2 * MIB }, evicted: { samples: 2, processes: 1 }, heap_used_bytes: 30 * MIB, rss_bytes: 110 * MIB, breakdown: quietMemoryBreakdown() },
      symbols: {
        problems: {
          counts: { ENOTREG: 2, ETIMEDOUT: 1 },
          recent: [{ at: '2026-11-25T03:00:00.000Z', file: '/tmp/perf-42.map\u001b]0;pwned\u0007\nfake line', code: 'ENOTREG', message: 'is a FIFO, not a regular file' }],
        },
        quarantined: 1,
        snapshots: { taken: 10, gone: 1, skipped: 0, pending: 0 },
        readers: [
          { pid: 901, requests: 10, timeouts: 1, crashes: 0, queued: 0 },
          { pid: 902, requests: 3, timeouts: 0, crashes: 0, queued: 0 },
        ],
      },
    });
    const text = lines.join('\n');
    expect(text).toContain('memory:   3.0 MiB of the 64.0 MiB budget (samples 1.0 MiB, processes 2.0 MiB); 3 things evicted to stay within it; V8 heap 30.0 MiB, RSS 110.0 MiB');
    // Where the RSS goes, share by share, and what the parts hold within it.
    expect(lines).toContain(
      '          RSS 116.0 MiB: V8 heap 32.0 MiB (23.0 MiB used of 34.0 MiB), array buffers 4.0 MiB, other external 2.0 MiB, BPF maps 2.0 MiB, code and libraries 46.0 MiB, not accounted 30.0 MiB',
    );
    expect(lines).toContain(
      '          held: samples 0.8 MiB, stacks 0.3 MiB, processes 0.3 MiB, metric history 0.1 MiB, rule instances 0.0 MiB, collectors 0.1 MiB, unwind tables 3.0 MiB; symbol caches in tail2-reader 50.0 MiB (their own RSS)',
    );
    expect(text).toContain('symbols:  ENOTREG 2, ETIMEDOUT 1; 1 files set aside; tail2-reader restarted 1 times');
    expect(text).toContain('/tmp/perf-42.map\\x1b]0;pwned\\x07\\x0afake line: ENOTREG is a FIFO');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/); // only the line breaks between lines
  });
});
