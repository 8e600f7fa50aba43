import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture, runCli } from '../helpers/fixtures.js';
import { startSystemdStandIn, type SystemdStandIn } from '../helpers/systemd-stand-in.js';

// tail2d as an operator runs it: under systemd's notify protocol, scraped by Prometheus, never
// the subject of its own rules.

const running: RunningDaemon[] = [];
const standIns: SystemdStandIn[] = [];

afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
  for (const s of standIns) s.close();
});

describe('tail2d operations', () => {
  it('tells systemd READY, STATUS and WATCHDOG while healthy, and STOPPING on SIGTERM', async () => {
    const socket = `@tail2-ops-${process.pid}`;
    const systemd = await startSystemdStandIn(socket);
    standIns.push(systemd);
    process.env.NOTIFY_SOCKET = socket;
    process.env.WATCHDOG_USEC = '400000';
    let d: RunningDaemon;
    try {
      d = await startDaemon('systemd', 'rules: []\n');
    } finally {
      delete process.env.NOTIFY_SOCKET;
      delete process.env.WATCHDOG_USEC;
    }
    running.push(d);
    const ready = await systemd.waitFor((m) => m.startsWith('READY=1'));
    expect(ready).toMatch(/STATUS=sampling \d+ CPUs at 99 Hz/);
    await systemd.waitFor((m) => m === 'WATCHDOG=1');
    // SIGHUP: RELOADING, then READY again.
    d.child.kill('SIGHUP');
    await systemd.waitFor((m) => m.startsWith('RELOADING=1'));
    await expect.poll(() => systemd.received.filter((m) => m.startsWith('READY=1')).length).toBe(2);
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(systemd.received.some((m) => m.startsWith('STOPPING=1'))).toBe(true);
  });

  it('serves Prometheus metrics and keeps itself out of its process rules', async () => {
    const burner = buildCFixture('burner');
    // A rule the burner and tail2d (its command line names tail2d.js) both match: any CPU at all,
    // which tail2d uses every round, so it would fire on itself if it were not excluded.
    const d = await startDaemon('metrics', ['rules:', '  - name: any-busy', '    metric: cpu', '    scope: { process: "burner|tail2d" }', '    above: 0%', '    for: 1s', '    capture: { before: 2s, after: 1s }', '    cooldown: 1h'].join('\n'));
    running.push(d);
    const child = spawn(burner, ['0'], { stdio: 'ignore' });
    try {
      await d.waitFor('an incident of the burner', async () => {
        const list = await d.get<{ incidents: Array<{ process: { comm: string } | null }> }>('/api/incidents');
        return list.incidents.find((i) => i.process?.comm === 'burner');
      });
      // Rounds evaluated after the incident, and every one of them without tail2d: the rule has
      // an instance for the burner (it fired), none for tail2d's pid.
      await d.collectedSince(Date.now());
    } finally {
      child.kill('SIGKILL');
    }
    const daemonPid = d.child.pid!;
    const { rules } = await d.get<{ rules: Array<{ instances: Array<{ instance: { kind: string; pid?: number } }> }> }>('/api/rules');
    const seenPids = rules[0].instances.map((i) => i.instance.pid);
    expect(seenPids).toContain(child.pid);
    expect(seenPids).not.toContain(daemonPid);
    const list = await d.get<{ incidents: Array<{ process: { pid: number } | null }> }>('/api/incidents');
    expect(list.incidents.some((i) => i.process?.pid === daemonPid)).toBe(false);
    const status = await d.status();
    expect(status.self.pid).toBe(daemonPid);
    expect(status.self.excluded_from_rules).toContain(daemonPid);
    expect(status.self.rss_bytes).toBeGreaterThan(10e6);

    const response = await fetch(`${d.baseUrl}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await response.text();
    const value = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1]);
    expect(value('tail2_samples_total')).toBeGreaterThan(100);
    expect(value('tail2_buffer_bytes')).toBeGreaterThan(0);
    expect(value('tail2_buffer_span_seconds')).toBeGreaterThan(1);
    expect(text).toMatch(/^tail2_incidents_total\{rule="any-busy"\} [1-9]/m);
    expect(text).toMatch(/^tail2_rule_instances\{rule="any-busy",state="(inactive|pending|firing|cooldown)"\} \d+/m);
    expect(text).toMatch(/^tail2_collector_duration_seconds_count [1-9]/m);
    expect(text).toMatch(/^tail2_capture_render_duration_seconds_count [1-9]/m);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10e6);
    expect(text).toMatch(/^process_cpu_seconds_total [0-9.]+$/m);

    // `tail2 status` says the same in words.
    const words = await runCli(['status', '--config', d.configPath]);
    expect(words.code).toBe(0);
    expect(words.stdout).toMatch(/^sampler: {2}sampling at 99 Hz on \d+ CPUs/m);
    expect(words.stdout).toMatch(new RegExp(`^self: +pid ${daemonPid}, .*never fires its rules on pids ${daemonPid}`, 'm'));
    expect(words.stdout).toMatch(/^notify: +off \(no notifiers configured/m);
  });

  it('slows sampling down when its own CPU stays above sampling.max_cpu, and says so', async () => {
    const d = await startDaemon('backoff', 'rules: []\n', 'sampling: { frequency: 99, max_cpu: "0.1%" }\n');
    running.push(d);
    const slowed = await d.waitFor('the sampler to slow down', async () => {
      const sampler = (await d.status()).sampler;
      return sampler.frequency < 99 ? sampler : undefined;
    });
    expect(slowed).toMatchObject({ frequency: 49, configured_frequency: 99, running: true, backoff: { frequency: 49 } });
    expect(slowed.backoff!.reason).toMatch(/above sampling\.max_cpu 0\.1%/);
    expect(d.log()).toMatch(/sampling slowed down to protect the host/);
    // Sampling goes on at the new frequency and the totals keep growing across the change.
    const before = slowed.samples;
    await d.waitFor('more samples', async () => ((await d.status()).sampler.samples > before + 50 ? true : undefined));
    const page = await (await fetch(`${d.baseUrl}/status`)).text();
    expect(page).toContain('Slowed down to protect the host');
    expect(page).toMatch(/49 Hz instead of 99 Hz/);
  });
});
