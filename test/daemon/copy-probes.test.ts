import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFolded } from '../../daemon/formats/folded.js';
import { copySizeBucket } from '../../daemon/model/copy-sizes.js';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture, runCli } from '../helpers/fixtures.js';
import { weightWhere } from '../helpers/folded-weight.js';

// The daemon's copy probes (docs/profiles.md#copies): session uprobes on the memcpy and memmove
// a real process runs (glibc's IFUNC choice, read from the process), every copy counted by size,
// the bytes sampled by stack into the incident's memcpy profile.

const running: RunningDaemon[] = [];
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const d of running) await d.stop('SIGKILL');
});

/** test/fixtures/programs/copier.c, and a way to run one burst of copies and wait for its end. */
async function copier(): Promise<{ child: ChildProcess; burst(frames: number, shifts: number): Promise<void> }> {
  const child = spawn(buildCFixture('copier'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  expect(await next()).toBe('ready');
  return {
    child,
    async burst(frames, shifts) {
      const done = next();
      child.stdin!.write(`${frames} ${shifts}\n`);
      expect(await done).toBe(`done ${frames} ${shifts}`);
    },
  };
}


describe('copy probes in tail2d', () => {
  it('counts every copy of a probed process by size, and its incident names the copying function', async () => {
    const d = await startDaemon('copy-probes', 'rules: []\n');
    running.push(d);
    const copies = await copier();
    const pid = copies.child.pid!;
    const attach = await runCli(['probe', 'memcpy', '--pid', String(pid), '--for', '5m', '--config', d.configPath]);
    expect(attach.code, attach.stderr).toBe(0);
    expect(attach.stdout).toMatch(new RegExp(`^probing memcpy, memmove, mempcpy in /usr/lib/x86_64-linux-gnu/libc\\.so\\.6 of pid ${pid} until `));

    // Exactly what the fixture did: 300 memcpy of 40,000 bytes, 200 memmove of 300 bytes.
    await copies.burst(300, 200);
    const probed = (await d.status()).probes.processes.find((p) => p.pid === pid && p.kind === 'memcpy');
    const countOf = (size: number) => probed?.copy_sizes?.find((b) => b.from === 2 ** (copySizeBucket(size) - 1))?.count;
    expect(countOf(40_000)).toBe(300);
    expect(countOf(300)).toBe(200);

    // A few seconds of copying (~40 MB/s: ~40 samples a second at the 1 MiB mean, a few hundred
    // calls a second, which the overhead guard does not judge), then a capture of them.
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      await copies.burst(100, 100);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const response = await fetch(`${d.baseUrl}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: '4s', after: '0s', reason: 'copy test' }) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const record = await d.waitFor(`incident ${id} on disk`, async () => {
      const r = await fetch(`${d.baseUrl}/api/incidents/${id}`);
      return r.ok ? ((await r.json()) as IncidentRecord) : undefined;
    });
    expect(record.profiles?.find((p) => p.kind === 'memcpy')).toMatchObject({ unit: 'bytes' });
    const folded = parseFolded((await d.incidentFile(id, 'memcpy.stacks.folded')).toString('utf8'));
    const ofCopier = weightWhere(folded, (stack) => stack.startsWith('copier;'));
    const framesPath = weightWhere(folded, (stack) => stack.startsWith('copier;') && stack.includes(';copy_frames;'));
    // Each second copies ~40 MB through copy_frames and 300 KB through shift_bytes.
    expect(ofCopier).toBeGreaterThan(20 * 1024 ** 2);
    expect(framesPath / ofCopier).toBeGreaterThanOrEqual(0.9);

    const status = await runCli(['status', '--config', d.configPath]);
    expect(status.stdout).toMatch(new RegExp(`pid ${pid} \\(memcpy\\): memcpy, memmove, mempcpy in /usr/lib/x86_64-linux-gnu/libc\\.so\\.6 until .* \\(tail2 probe\\)`));
    expect(status.stdout).toMatch(/copies by size: 32KiB–64KiB: [\d,]+; 256B–512B: [\d,]+/);

    const stop = await runCli(['probe', 'memcpy', '--pid', String(pid), '--stop', '--config', d.configPath]);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toContain(`memcpy probes removed from pid ${pid}`);
    expect((await d.status()).probes.processes).toEqual([]);
  });
});
