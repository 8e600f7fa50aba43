import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFolded } from '../../daemon/formats/folded.js';
import { readPngText } from '../../daemon/formats/png-text.js';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildOptimizedCFixture } from '../../harness/fixture-programs.js';
import { buildCFixture, runCli } from '../helpers/fixtures.js';
import { weightWhere } from '../helpers/folded-weight.js';

// The daemon's allocation probes (docs/profiles.md#allocations): attached by a pending rss_growth
// rule and by `tail2 probe`, real session uprobes on real processes, the incident's `inuse` profile.

const running: RunningDaemon[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const d of running) await d.stop('SIGKILL');
});

/** A heap-leaker (test/fixtures/programs/heap-leaker.c), once it has run its first round. */
async function heapLeaker(binary: string, leakKibPerSecond: number, churnKibPerSecond: number): Promise<ChildProcess> {
  const child = spawn(binary, [String(leakKibPerSecond), String(churnKibPerSecond)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}


describe('allocation probes in tail2d', () => {
  it('probes a process whose rss_growth rule goes pending, and its incident pictures what it still holds', async () => {
    const d = await startDaemon(
      'allocation-rule',
      [
        'rules:',
        '  - name: leak',
        '    metric: rss_growth',
        '    scope: { process: "^heap-leaker$" }',
        '    above: 100MiB/min',
        '    for: 5s',
        '    capture: { before: 10s, after: 2s }',
      ].join('\n'),
    );
    running.push(d);
    // 4 MiB/s kept (240 MiB/min), 2 MiB/s churned and freed: ~350 allocator calls a second, whose
    // probes cost this VM a few ms a second, below what the overhead guard judges.
    const leaker = await heapLeaker(buildCFixture('heap-leaker'), 4096, 2048);
    const incident = await d.waitFor('an rss_growth incident', async () => (await d.get<{ incidents: Array<{ id: string; rule: string }> }>('/api/incidents')).incidents[0], 90_000);
    expect(incident.rule).toBe('leak');
    const record = await d.get<IncidentRecord>(`/api/incidents/${incident.id}`);
    expect(record.profiles?.find((p) => p.kind === 'inuse')).toMatchObject({ unit: 'bytes' });
    expect(record.profiles?.find((p) => p.kind === 'malloc')).toMatchObject({ unit: 'bytes' });

    // What the process still held at the window's end: the leak path, nearly all of it.
    const inuse = parseFolded((await d.incidentFile(incident.id, 'inuse.stacks.folded')).toString('utf8'));
    const ofLeaker = weightWhere(inuse, (stack) => stack.startsWith('heap-leaker;'));
    const leakPath = weightWhere(inuse, (stack) => stack.startsWith('heap-leaker;') && stack.includes(';leak_sessions;'));
    // Probed from pending (5 s before firing) to the end of the window: tens of MiB leaked.
    expect(ofLeaker).toBeGreaterThan(8 * 1024 ** 2);
    expect(leakPath / ofLeaker).toBeGreaterThanOrEqual(0.9);
    // A memory rule's picture is the outstanding allocations of what it watched.
    const png = readPngText(await d.incidentFile(incident.id, 'inuse.process.png'));
    expect(png.get('Title')).toMatch(/^Outstanding allocations · leak on /);
    expect(png.get('Description')).toMatch(/^Flamegraph of heap-leaker \(pid \d+\): outstanding allocations/);

    // The incident page opens on it too, its samples there as soon as the message is out.
    const html = await (await fetch(`${d.baseUrl}/incidents/${incident.id}`)).text();
    expect(html).toContain('aria-current="page">Outstanding allocations <span class="muted">(bytes)</span>');

    // The status says which process is probed, and why.
    const probes = (await d.status()).probes;
    expect(probes.profiles.malloc.available).toBe(true);
    expect(probes.processes).toEqual([expect.objectContaining({ pid: leaker.pid, kind: 'malloc', reason: 'rule leak', file: '/usr/lib/x86_64-linux-gnu/libc.so.6' })]);
    expect(probes.kernel.samples).toBeGreaterThan(0);
  });

  it('attaches and removes probes with `tail2 probe`, and says why a process cannot be probed', async () => {
    const d = await startDaemon('allocation-command', 'rules: []\n');
    running.push(d);
    const leaker = await heapLeaker(buildCFixture('heap-leaker'), 1024, 1024);
    const attach = await runCli(['probe', 'malloc', '--pid', String(leaker.pid), '--for', '1m', '--config', d.configPath]);
    expect(attach.code, attach.stderr).toBe(0);
    expect(attach.stdout).toMatch(new RegExp(`^probing malloc, free, calloc, realloc, .* in /usr/lib/x86_64-linux-gnu/libc\\.so\\.6 of pid ${leaker.pid} until `));
    await d.waitFor('sampled allocations', async () => ((await d.status()).probes.outstanding.allocations > 0 ? true : undefined), 30_000);
    const status = await runCli(['status', '--config', d.configPath]);
    expect(status.stdout).toMatch(new RegExp(`pid ${leaker.pid} \\(malloc\\): malloc, free, .* in /usr/lib/x86_64-linux-gnu/libc\\.so\\.6 until .* \\(tail2 probe\\)`));

    const stop = await runCli(['probe', 'malloc', '--pid', String(leaker.pid), '--stop', '--config', d.configPath]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`malloc probes removed from pid ${leaker.pid}`);
    const after = (await d.status()).probes;
    expect(after.processes).toEqual([]);
    // Its outstanding allocations are no longer followed (their frees would not be seen).
    expect(after.outstanding.allocations).toBe(0);

    const stripped = await heapLeaker(buildCFixture('heap-leaker', ['-static', '-s'], 'heap-leaker-static-stripped'), 64, 64);
    const refused = await runCli(['probe', 'malloc', '--pid', String(stripped.pid), '--config', d.configPath]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cannot probe malloc in PID ${stripped.pid}: no mapped file defines malloc and free`);
    expect((await d.status()).probes.failures).toEqual([expect.objectContaining({ pid: stripped.pid, message: expect.stringContaining('a stripped static binary') })]);
  });

  it('detaches from a process calling malloc in a tight loop, and says why', async () => {
    const d = await startDaemon('allocation-guard', 'rules: []\n');
    running.push(d);
    // Nothing but malloc and free, millions a second: the traps alone would slow it several times over.
    const spinner = spawn(buildOptimizedCFixture('alloc-work', 'nofp'), ['0', '64'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(spinner);
    await new Promise((resolve) => spinner.stdout!.once('data', resolve));
    const attach = await runCli(['probe', 'malloc', '--pid', String(spinner.pid), '--for', '10m', '--config', d.configPath]);
    expect(attach.code, attach.stderr).toBe(0);
    const failure = await d.waitFor('the guard to detach', async () => (await d.status()).probes.failures.find((f) => f.pid === spinner.pid), 30_000);
    expect(failure.message).toMatch(
      new RegExp(`^cannot probe malloc in PID ${spinner.pid}: probes removed by the overhead guard: [\\d,]+ allocator calls a second took ~[\\d.]+% of its CPU time, over probes.max_overhead \\(5\\.0%\\)$`),
    );
    const probes = (await d.status()).probes;
    expect(probes.processes).toEqual([]);
    expect(probes.max_overhead).toBe(0.05);
    const status = await runCli(['status', '--config', d.configPath]);
    expect(status.stdout).toContain('probes removed by the overhead guard');
  });
});
