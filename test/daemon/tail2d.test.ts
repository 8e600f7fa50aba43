import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, realpathSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readPngText } from '../../daemon/formats/png-text.js';
import { findCgroup2Mount } from '../../daemon/metrics/cgroup-stats.js';
import { parseFolded } from '../../daemon/formats/folded.js';
import { decodeProfileSamples } from '../../daemon/formats/profile-samples.js';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { startDaemon, tail2dPath, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture, runCli } from '../helpers/fixtures.js';

// tail2d as a child process: real sampler, real collectors, real rules, incidents on disk.

interface IncidentList {
  incidents: Array<{ id: string; rule: string; fired_at: string; process: { pid: number; comm: string } | null }>;
  next: string | null;
}

const running: RunningDaemon[] = [];

async function daemon(name: string, rules: string, extraConfig = ''): Promise<RunningDaemon> {
  const started = await startDaemon(name, rules, extraConfig);
  running.push(started);
  return started;
}

/** A stored incident's text file, once it is there (RunningDaemon.incidentFile). */
async function incidentFile(d: RunningDaemon, id: string, file: string): Promise<string> {
  return (await d.incidentFile(id, file)).toString('utf8');
}

afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
});

describe('tail2d', () => {
  it('captures a CPU burner when its rule fires, with the minute before the trigger', async () => {
    const burner = buildCFixture('burner');
    const d = await daemon(
      'burner',
      [
        'rules:',
        '  - name: burner-spin',
        '    metric: cpu',
        '    scope: { process: "^burner$" }',
        '    above: 80%',
        '    for: 3s',
        '    capture: { before: 20s, after: 2s }',
        '    cooldown: 1h',
      ].join('\n'),
    );
    const child = spawn(burner, ['0'], { stdio: 'ignore' });
    try {
      const incident = await d.waitFor('an incident', async () => (await d.get<IncidentList>('/api/incidents')).incidents[0]);
      expect(incident.rule).toBe('burner-spin');
      expect(incident.process).toMatchObject({ pid: child.pid, comm: 'burner' });
      const record = await d.get<IncidentRecord>(`/api/incidents/${incident.id}`);
      expect(record.trigger).toMatchObject({ kind: 'rule', metric: 'cpu', comparison: 'above', thresholdText: '80%' });
      expect(record.trigger.kind === 'rule' && record.trigger.value).toBeGreaterThan(0.8);
      expect(record.series[0].points.length).toBeGreaterThan(3);

      // The burner's samples: mostly in leaf_spin under its whole chain.
      const folded = parseFolded(await incidentFile(d, incident.id, 'stacks.folded'));
      let burnerSamples = 0;
      let inLeaf = 0;
      for (const [path, count] of folded) {
        if (!path.startsWith('burner;')) continue;
        burnerSamples += count;
        if (/main;outer;middle;leaf_spin$/.test(path)) inLeaf += count;
      }
      expect(burnerSamples).toBeGreaterThan(100);
      expect(inLeaf / burnerSamples).toBeGreaterThanOrEqual(0.9);

      // The pre-window: samples from before the moment the rule fired (the `for` period and earlier).
      const speedscope = JSON.parse(await incidentFile(d, incident.id, 'speedscope.json')) as {
        profiles: Array<{ name: string; startValue: number; samples: number[][] }>;
      };
      const firedOffsetNs = Date.parse(record.fired_at) - Date.parse(record.window.from);
      const burnerProfile = speedscope.profiles.find((p) => p.name.startsWith('burner'));
      expect(burnerProfile).toBeDefined();
      expect(burnerProfile!.startValue).toBeLessThan(firedOffsetNs * 1e6 - 2e9);
      // Samples from before the burner started are there too: the window reaches back 20 s.
      expect(speedscope.profiles.length).toBeGreaterThan(1);

      // The summary (computed once, for notifications and the page) names the looping function.
      const summary = JSON.parse(await incidentFile(d, incident.id, 'summary.json')) as {
        scope: { pid: number };
        topFunctions: { bySelf: Array<{ name: string; selfShare: number }> };
      };
      expect(summary.scope.pid).toBe(child.pid);
      expect(summary.topFunctions.bySelf[0]).toMatchObject({ name: 'leaf_spin' });
      expect(summary.topFunctions.bySelf[0].selfShare).toBeGreaterThan(0.9);
      // The PNG for Slack and email, and the differential flamegraph against the baseline.
      const png = Buffer.from(await (await fetch(`${d.baseUrl}/api/incidents/${incident.id}/flamegraph.png`)).arrayBuffer());
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(1200);
      expect(record.window.held_since).not.toBeNull();
      const diff = await fetch(`${d.baseUrl}/api/incidents/${incident.id}/diff.svg`);
      expect(diff.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
      expect(await diff.text()).toContain('leaf_spin');
      // Every sample with its time is kept, as the source of the other artifacts.
      const stored = decodeProfileSamples(await d.incidentFile(incident.id, 'samples.json.gz'));
      expect(stored.samples.stack.length).toBe(record.profile.samples);
      // The triggering process alone: only its stacks.
      const alone = await (await fetch(`${d.baseUrl}/api/incidents/${incident.id}/process.svg`)).text();
      expect(alone).toContain('leaf_spin');
      expect(alone).not.toContain('swapper');
      // No idle task in any profile: its share is stated instead, in the summary, the title and the page.
      expect([...folded.keys()].some((path) => path.startsWith('swapper'))).toBe(false);
      const idle = (JSON.parse(await incidentFile(d, incident.id, 'summary.json')) as { idle: { share: number; included: boolean } }).idle;
      expect(idle.included).toBe(false);
      expect(idle.share).toBeGreaterThanOrEqual(0);
      expect(idle.share).toBeLessThan(1);
      expect(await incidentFile(d, incident.id, 'flamegraph.svg')).toMatch(/<title>burner-spin on [^<]* — CPUs \d+% idle<\/title>/);
      const page = await (await fetch(`${d.baseUrl}/incidents/${incident.id}`)).text();
      expect(page).toMatch(/<dd id="idle-share">CPUs \d+\.\d% idle in the trigger window \(\d+\.\d% before\); the idle task \(pid 0\) is left out of the profiles<\/dd>/);
    } finally {
      child.kill('SIGKILL');
    }
    // SIGTERM: a clean exit, nothing left attached.
    expect(await d.stop()).toBe(0);
    expect(execFileSync('bpftool', ['prog', 'show']).toString()).not.toContain('sample_stack');
  });

  it('draws a unit rule\'s incident from the unit\'s processes alone, for the notifications', async () => {
    const root = findCgroup2Mount(readFileSync('/proc/self/mounts', 'utf8'));
    expect(root, 'cgroup v2 is mounted').toBeDefined();
    // A scope of our own, as systemd would create for a unit, with a burner in it.
    const unit = `tail2-e2e-${process.pid}.scope`;
    const directory = join(root!, unit);
    mkdirSync(directory);
    const burner = buildCFixture('burner');
    const inUnit = spawn(burner, ['0'], { stdio: 'ignore' });
    // Busy too, but outside the unit: none of it may show in the unit's picture.
    const outside = spawn('nice', ['-n', '19', buildCFixture('mixer'), '600'], { stdio: 'ignore' });
    try {
      writeFileSync(join(directory, 'cgroup.procs'), String(inUnit.pid));
      const d = await daemon(
        'unit-rule',
        ['rules:', '  - name: unit-spin', '    metric: cpu', `    scope: { unit: ${unit} }`, '    above: 50%', '    for: 2s', '    capture: { before: 10s, after: 1s }', '    cooldown: 1h'].join('\n'),
      );
      const incident = await d.waitFor('the unit incident', async () => (await d.get<IncidentList>('/api/incidents')).incidents[0]);
      expect(incident.process).toBeNull();
      const png = readPngText(Buffer.from(await (await fetch(`${d.baseUrl}/api/incidents/${incident.id}/cgroup.png`)).arrayBuffer()));
      expect(png.get('Title')).toMatch(new RegExp(`^unit-spin on .* · ${unit.replace(/\./g, '\\.')}$`));
      expect(png.get('Description')).toMatch(new RegExp(`^Flamegraph of ${unit.replace(/\./g, '\\.')}: [\\d,]+ samples\\. Hottest functions \\(self\\): leaf_spin `));
      expect(png.get('Description')).not.toContain('work_');
      const alone = await incidentFile(d, incident.id, 'cgroup.svg');
      expect(alone).toContain('leaf_spin');
      expect(alone).not.toContain('work_');
      expect(await incidentFile(d, incident.id, 'flamegraph.svg')).toMatch(/<title>work_\d+ \(/);
      const summary = JSON.parse(await incidentFile(d, incident.id, 'summary.json')) as { scope: unknown; topFunctions: { bySelf: Array<{ name: string }> } };
      expect(summary.scope).toMatchObject({ cgroup: `/${unit}`, unit, processes: 1 });
      expect(summary.topFunctions.bySelf[0].name).toBe('leaf_spin');
      // The unit runs one program: pprof names it as the main binary.
      const pprof = Profile.decode(gunzipSync(await d.incidentFile(incident.id, 'profile.pb.gz')));
      expect(pprof.stringTable.strings[Number(pprof.mapping[0]?.filename)]).toBe(realpathSync(burner));
    } finally {
      inUnit.kill('SIGKILL');
      outside.kill('SIGKILL');
      await once(inUnit, 'exit');
      // The killed task leaves the cgroup asynchronously: EBUSY until it has.
      await vi.waitFor(() => rmdirSync(directory), { timeout: 5_000, interval: 50 });
    }
  });

  it('fires an rss_growth rule for a process that leaks memory', async () => {
    const leaker = buildCFixture('leaker');
    const d = await daemon(
      'leaker',
      [
        'rules:',
        '  - name: leak',
        '    metric: rss_growth',
        '    scope: { process: "^leaker$" }',
        '    above: 200MiB/min',
        '    for: 3s',
        '    capture: { before: 10s, after: 1s }',
      ].join('\n'),
    );
    const child = spawn(leaker, ['20', '1500'], { stdio: 'ignore' });
    try {
      const incident = await d.waitFor('an rss_growth incident', async () => (await d.get<IncidentList>('/api/incidents')).incidents[0], 90_000);
      expect(incident.rule).toBe('leak');
      expect(incident.process?.comm).toBe('leaker');
      const record = await d.get<IncidentRecord>(`/api/incidents/${incident.id}`);
      // ~20 MiB/s is ~1,200 MiB/min; the robust slope lands near it.
      expect(record.trigger.kind === 'rule' && record.trigger.value / (1024 * 1024)).toBeGreaterThan(10);

      // A rule on rss_growth turns the page-fault profile on (sampling.page_faults.mode auto) ...
      const faults = (await d.status()).sampler.page_faults;
      expect(faults).toMatchObject({ mode: 'auto', on: true, period_faults: 256, error: null });
      expect(faults.reason).toMatch(/rule leak watches resident memory/);
      expect(faults.samples).toBeGreaterThan(0);
      // ... and the incident carries it, in bytes: the leaker alone, each path with the bytes it
      // made resident. The leaker makes its memory resident in touch() (memset on a new block).
      const pageFaults = record.profiles?.find((p) => p.kind === 'page_faults');
      expect(pageFaults).toMatchObject({ unit: 'bytes' });
      const leakerFaults = parseFolded(await incidentFile(d, incident.id, 'page_faults.stacks.folded'));
      const ofLeaker = [...leakerFaults].filter(([path]) => path.startsWith('leaker;'));
      const leakerBytes = ofLeaker.reduce((sum, [, bytes]) => sum + bytes, 0);
      const touchBytes = ofLeaker.filter(([path]) => path.split(';').includes('touch')).reduce((sum, [, bytes]) => sum + bytes, 0);
      // 11 s of window at ~20 MiB/s: well over 100 MiB made resident, nearly all of it by touch().
      expect(leakerBytes).toBeGreaterThan(100 * 1024 ** 2);
      expect(touchBytes / leakerBytes).toBeGreaterThan(0.9);
      // What the rule watched alone, titled with the kind: the image its notifications carry.
      const svg = await incidentFile(d, incident.id, 'page_faults.process.svg');
      expect(svg).toContain('touch');
      expect(svg).toContain('Page faults');
      const png = readPngText(await d.incidentFile(incident.id, 'page_faults.process.png'));
      expect(png.get('Title')).toMatch(/^Page faults · leak on /);
      expect(png.get('Description')).toMatch(/^Flamegraph of leaker \(pid \d+\): page faults, [\d.]+ MiB\. Hottest functions \(self\): __memset/);
      const summary = JSON.parse(await incidentFile(d, incident.id, 'page_faults.summary.json')) as { unit: string; scope: { pid: number } };
      expect(summary).toMatchObject({ unit: 'bytes', scope: { pid: child.pid } });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes manual captures from `tail2 capture` and lists them with `tail2 incidents` and `tail2 status`', async () => {
    const d = await daemon('manual', 'rules:\n  - name: misses\n    metric: cache_miss_rate\n    above: 1000000/s\n');
    const capture = await runCli(['capture', '--before', '2s', '--after', '1s', '--reason', 'checking <things> & stuff', '--config', d.configPath]);
    expect(capture.code, capture.stderr).toBe(0);
    const id = capture.stdout.trim();
    await d.waitFor('the manual incident', async () => (await d.get<IncidentList>('/api/incidents')).incidents.find((i) => i.id === id));
    const record = await d.get<IncidentRecord>(`/api/incidents/${id}`);
    expect(record.trigger).toEqual({ kind: 'manual', reason: 'checking <things> & stuff' });
    expect(record.profile.samples).toBeGreaterThan(0);

    const list = await runCli(['incidents', '--config', d.configPath]);
    expect(list.stdout).toContain(id);
    const status = await runCli(['status', '--json', '--config', d.configPath]);
    const parsed = JSON.parse(status.stdout) as {
      sampler: { running: boolean; cpus: number };
      metrics: { unavailable: Array<{ metric: string; reason: string }> };
      rules: { unavailable: Array<{ rule: string; reason: string }> };
    };
    expect(parsed.sampler.running).toBe(true);
    expect(parsed.sampler.cpus).toBeGreaterThan(0);
    // This VM has no PMU: the status says so rather than failing.
    expect(parsed.metrics.unavailable.find((m) => m.metric === 'cache_miss_rate')?.reason).toMatch(/PMU/);
    // ... and on the rule it affects.
    expect(parsed.rules.unavailable).toEqual([expect.objectContaining({ rule: 'misses', reason: expect.stringMatching(/PMU/) })]);

    // The idle task is left out, and capture.include_idle, changed on SIGHUP, keeps it from the next capture on.
    const idleOf = async (incident: string) => (JSON.parse(await incidentFile(d, incident, 'summary.json')) as { idle: { share: number; included: boolean } }).idle;
    expect((await idleOf(id)).included).toBe(false);
    expect(parseFolded(await incidentFile(d, id, 'stacks.folded')).size).toBeGreaterThan(0);
    expect([...parseFolded(await incidentFile(d, id, 'stacks.folded')).keys()].some((path) => path.startsWith('swapper'))).toBe(false);
    writeFileSync(d.configPath, `${readFileSync(d.configPath, 'utf8')}capture: { include_idle: true }\n`);
    d.child.kill('SIGHUP');
    await d.waitFor('the reload', async () => ((await d.status()).rules.last_reload?.ok ? true : undefined));
    const again = await runCli(['capture', '--before', '2s', '--after', '1s', '--config', d.configPath]);
    expect(again.code, again.stderr).toBe(0);
    const kept = again.stdout.trim();
    await d.waitFor('the second manual incident', async () => (await d.get<IncidentList>('/api/incidents')).incidents.find((i) => i.id === kept));
    const keptIdle = await idleOf(kept);
    expect(keptIdle.included).toBe(true);
    // A machine this busy may have had no idle time to sample; when it had some, it is there.
    if (keptIdle.share >= 0.2) expect([...parseFolded(await incidentFile(d, kept, 'stacks.folded')).keys()].some((path) => path.startsWith('swapper'))).toBe(true);

    // Artifacts come with their content types; unknown names and bad ids are 404s.
    const svg = await fetch(`${d.baseUrl}/api/incidents/${id}/flamegraph.svg`);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}/incident.json`)).status).toBe(404);
    expect((await fetch(`${d.baseUrl}/api/incidents/..%2F..%2Fetc/flamegraph.svg`)).status).toBe(404);
  });

  it('reloads rules on SIGHUP and keeps the old ones when the new file is bad', async () => {
    const rule = (name: string) => `  - name: ${name}\n    metric: cpu\n    above: 99%\n    for: 1h\n`;
    const d = await daemon('reload', `rules:\n${rule('one')}`);
    // No rule watches memory: the page-fault profile is off (sampling.page_faults.mode auto).
    expect((await d.status()).sampler.page_faults).toMatchObject({ on: false, samples: 0, reason: expect.stringMatching(/no rule watches rss or rss_growth/) });
    const memoryRule = '  - name: big\n    metric: rss\n    scope: { process: "^never-runs$" }\n    above: 1GiB\n';
    writeFileSync(d.rulesPath, `rules:\n${rule('one')}${rule('two')}${memoryRule}`);
    d.child.kill('SIGHUP');
    await d.waitFor('three rules', async () => ((await d.get<{ rules: unknown[] }>('/api/rules')).rules.length === 3 ? true : undefined));
    // A rule on rss came with the reload: page faults are sampled from now on, live, on every CPU.
    expect((await d.status()).sampler.page_faults).toMatchObject({ on: true, error: null, reason: expect.stringMatching(/rule big watches resident memory/) });
    await d.waitFor('page-fault samples', async () => ((await d.status()).sampler.page_faults.samples > 0 ? true : undefined));
    writeFileSync(d.rulesPath, `rules:\n${rule('one')}${rule('two')}`);
    d.child.kill('SIGHUP');
    await d.waitFor('two rules', async () => ((await d.get<{ rules: unknown[] }>('/api/rules')).rules.length === 2 ? true : undefined));
    // ... and off again when the rule goes.
    expect((await d.status()).sampler.page_faults.on).toBe(false);
    writeFileSync(d.rulesPath, 'rules:\n  - name: broken\n    metric: cpu\n    above: lots\n');
    d.child.kill('SIGHUP');
    const reload = await d.waitFor('the failed reload', async () => {
      const { rules } = await d.status();
      return rules.last_reload && !rules.last_reload.ok ? { ...rules, last_reload: rules.last_reload } : undefined;
    });
    expect(reload.count).toBe(2);
    expect(reload.last_reload.error).toMatch(/rules\.yaml:4:12: /);
  });

  it('refuses to start on a bad rules file, naming FILE:LINE:COL', async () => {
    const dir = join(process.cwd(), 'test-output', 'daemon', 'bad-rules');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'rules.yaml'), 'rules:\n  - name: x\n    metric: cpux\n    above: 90%\n');
    writeFileSync(join(dir, 'tail2.yaml'), 'state_dir: state\nweb: { listen: "127.0.0.1:1" }\nrules_file: rules.yaml\n');
    const result = spawn(process.execPath, [tail2dPath, '--config', join(dir, 'tail2.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    result.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => result.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/rules\.yaml:3:13: .*cpux/);
  });
});
