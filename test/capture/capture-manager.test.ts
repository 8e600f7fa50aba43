import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import { CaptureManager, type CaptureDependencies, type CaptureRequest } from '../../daemon/capture/capture-manager.js';
import { INCIDENT_RENDERERS } from '../../daemon/capture/incident-files.js';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { createStackTables, type Snapshotter } from '../../daemon/profile/stack-tables.js';
import { parseFolded } from '../../daemon/formats/folded.js';
import { readPngText } from '../../daemon/formats/png-text.js';
import { decodeProfileSamples } from '../../daemon/formats/profile-samples.js';
import { parseIncidentSummary } from '../../daemon/model/incident-summary.js';
import { findCgroup2Mount } from '../../daemon/metrics/cgroup-stats.js';
import { mappingCacheKey, type ProcessSnapshot } from '../../daemon/symbols/proc-maps.js';
import { monotonicToWallMs } from '../../daemon/sampler/stack-sampler.js';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import { PROFILE_KINDS } from '../../daemon/model/profile-kind.js';
import { BatchIngest } from '../../daemon/profile/batch-ingest.js';
import { encodeRecords, type SyntheticRecord } from '../../harness/synthetic-records.js';
import { ProfileSymbolizer } from '../../daemon/symbols/profile-symbolizer.js';
import { testOutput } from '../helpers/fixtures.js';

// The capture pipeline with its real parts (rolling buffer, tail2-reader's symbolizer, renderers, the
// incident store on a real file system); the windows are empty, since no sampler runs here.

const scratch = join(testOutput, 'capture-manager');
const cleanups: Array<() => unknown> = [];

afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const wallToMonotonicNs = (wallMs: number): number => Number(process.hrtime.bigint()) - (Date.now() - wallMs) * 1e6;

async function setup(dir: string, overrides: Partial<CaptureDependencies> = {}, snapshot?: Snapshotter) {
  const store = await IncidentStore.open(dir);
  cleanups.push(() => store.close());
  const files = new ProcessFiles();
  cleanups.push(() => files.close());
  const tables = createStackTables(snapshot);
  const buffer = new RollingBuffer(tables, { retainNs: 60e9, maxBytes: 64 * 1024 * 1024 });
  const written: IncidentRecord[] = [];
  /** What onStored saw: where the incident went, and whether its notifications were in the store's outbox then. */
  const stored: Array<{ id: string; directory: string; inOutbox: boolean }> = [];
  const lost: Array<{ id: string; error: Error }> = [];
  const errors: Array<{ id: string; error: Error; willRetry: boolean }> = [];
  /** What onCompleted saw: the artifacts added after the incident was stored. */
  const completed: Array<{ id: string; files: string[] }> = [];
  const captures = new CaptureManager({
    store,
    buffer,
    tables,
    symbolizer: new ProfileSymbolizer(files),
    frequency: () => 99,
    host: { name: 'test-host', kernel: '6.18.0', version: '0.1.0' },
    clock: { nowMs: () => Date.now(), wallToMonotonicNs, monotonicToWallMs },
    flush: async () => undefined,
    onStored: (record, directory) => {
      written.push(record);
      stored.push({ id: record.id, directory, inOutbox: store.outbox().some((entry) => entry.id === record.id) });
    },
    onError: (id, error, willRetry) => errors.push({ id, error, willRetry }),
    onLost: (id, error) => lost.push({ id, error }),
    onCompleted: (record, names) => completed.push({ id: record.id, files: names }),
    ...overrides,
  });
  return { store, buffer, tables, captures, written, stored, completed, lost, errors };
}

/** The real renderers, with `name`'s held back until `release()` is called. */
function heldBack(name: string) {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const renderers = INCIDENT_RENDERERS.map((r) => (r.name === name ? { name: r.name, render: async (input: Parameters<typeof r.render>[0]) => (await gate, r.render(input)) } : r));
  return { renderers, release };
}

function request(): CaptureRequest {
  return { rule: 'manual', trigger: { kind: 'manual', reason: 'test' }, instance: { kind: 'system' }, atMs: Date.now(), beforeMs: 1000, afterMs: 0, notify: ['oncall-slack'], metrics: ['cpu'] };
}

/** One CPU sampled at 100 Hz for 0.6 s: `pick(i)` says whose the i-th tick was. */
function ticks(pick: (i: number) => Omit<SyntheticRecord, 'timeNs'>): SyntheticRecord[] {
  const now = Number(process.hrtime.bigint());
  return Array.from({ length: 60 }, (_, i) => ({ timeNs: now - 7e8 + i * 1e7, ...pick(i) }));
}

const IDLE_TICK = { pid: 0, comm: 'swapper/0', kernel: [0xffffffff81000100n] };

/** A snapshot that says pid runs `/usr/bin/app` (mapped at 0x400000) and libc. */
function appSnapshot(pid: number): ProcessSnapshot {
  const mapping = (start: number, path: string, inode: number) => ({ start, end: start + 0x100000, offset: 0, path, devMajor: 8, devMinor: 1, inode, cacheKey: mappingCacheKey(8, 1, inode, path) });
  return { pid, startTicks: 0, cmdline: '/usr/bin/app --serve', mappings: [mapping(0x400000, '/usr/bin/app', 11), mapping(0x7f0000000000, '/usr/lib/libc.so.6', 12)], namespacePid: pid, uid: 0, euid: 0, sharesRoot: true, bytes: 1000 };
}

function artifact(dir: string, id: string, name: string): Buffer {
  return readFileSync(join(dir, 'incidents', id, name));
}

describe('CaptureManager', () => {
  it('captures every kind of profile the window holds, each with artifacts of its own in its unit', async () => {
    const dir = join(scratch, 'kinds');
    rmSync(dir, { recursive: true, force: true });
    const parts = await setup(dir);
    const { store, buffer, captures } = parts;
    // Samples of now: CPU (kind 0) and page faults (a kind no producer writes yet), through the real decoder.
    const now = Number(process.hrtime.bigint());
    const user = [0x401000n, 0x402000n];
    const records: SyntheticRecord[] = [
      ...Array.from({ length: 20 }, (_, i) => ({ timeNs: now - 5e8 + i * 1e6, pid: 77, comm: 'app', user })),
      ...Array.from({ length: 3 }, (_, i) => ({ timeNs: now - 4e8 + i * 1e6, pid: 77, comm: 'app', kind: PROFILE_KINDS.page_faults.record, weight: 4096, user })),
    ];
    new BatchIngest(parts.tables, buffer).ingest(encodeRecords(records.sort((a, b) => a.timeNs - b.timeNs)));
    const id = captures.start(request());
    await expect.poll(() => parts.completed.length).toBe(1);
    const record = await store.get(id);
    expect(record?.profile.samples).toBe(20);
    expect(record?.profiles).toEqual([
      { kind: 'cpu', unit: 'samples', samples: 20, weight: 20 },
      { kind: 'page_faults', unit: 'bytes', samples: 3, weight: 12288 },
    ]);
    const files = readdirSync(join(dir, 'incidents', id));
    for (const name of ['flamegraph.svg', 'page_faults.flamegraph.svg', 'page_faults.profile.pb.gz', 'page_faults.stacks.folded', 'page_faults.summary.json', 'page_faults.samples.json.gz']) expect(files).toContain(name);
    expect(readFileSync(join(dir, 'incidents', id, 'page_faults.flamegraph.svg'), 'utf8')).toContain('Page faults: 12.0 KiB in 3 samples');
    expect(readFileSync(join(dir, 'incidents', id, 'page_faults.stacks.folded'), 'utf8')).toMatch(/ 12288\n$/);
    // The store serves them by name, and nothing else by a name that only looks like one.
    expect(store.artifactPath(id, 'page_faults.flamegraph.svg')).toBe(join(dir, 'incidents', id, 'page_faults.flamegraph.svg'));
    expect(store.artifactPath(id, 'cpu.flamegraph.svg')).toBeUndefined();
    expect(store.artifactPath(id, 'page_faults.incident.json')).toBeUndefined();
  });

  it('leaves the idle task out of every profile artifact and states its share instead; capture.include_idle keeps it', async () => {
    const dir = join(scratch, 'idle');
    rmSync(dir, { recursive: true, force: true });
    let includeIdle = false;
    const parts = await setup(dir, { frequency: () => 100, cpus: () => 1, includeIdle: () => includeIdle });
    const { buffer, captures, written } = parts;
    // A third of the ticks found the CPU idle.
    new BatchIngest(parts.tables, buffer).ingest(encodeRecords(ticks((i) => (i % 3 === 0 ? IDLE_TICK : { pid: 77, comm: 'app', user: [0x401000n] }))));
    const id = captures.start({ ...request(), beforeMs: 30_000 });
    await expect.poll(() => parts.completed.length).toBe(1);
    expect(written[0].profile).toMatchObject({ samples: 40, processes: 1 });
    const folded = parseFolded(artifact(dir, id, 'stacks.folded').toString());
    expect([...folded.keys()].every((path) => path.startsWith('app;'))).toBe(true);
    const svg = artifact(dir, id, 'flamegraph.svg').toString();
    expect(svg).toMatch(/<title>manual on test-host · [^<]* — CPUs 33% idle<\/title>/);
    expect(svg).not.toContain('swapper');
    expect(readPngText(artifact(dir, id, 'flamegraph.png')).get('Title')).toBe('manual on test-host — CPUs 33% idle');
    expect(artifact(dir, id, 'speedscope.json').toString()).not.toContain('swapper');
    const samples = decodeProfileSamples(artifact(dir, id, 'samples.json.gz'));
    expect(samples.stacks.map((s) => s.pid)).toEqual([77]);
    const pprof = Profile.decode(gunzipSync(artifact(dir, id, 'profile.pb.gz')));
    expect(pprof.sample.reduce((n, s) => n + Number(s.value[0]), 0)).toBe(40);
    expect(pprof.comment.map((c) => pprof.stringTable.strings[Number(c)])).toEqual(['manual on test-host', 'CPUs 33% idle; the idle task (pid 0) is left out of the samples']);
    const summary = parseIncidentSummary(artifact(dir, id, 'summary.json').toString());
    expect(summary?.samples).toBe(40);
    expect(summary?.idle).toEqual({ share: expect.closeTo(1 / 3, 6), samples: 20, included: false });
    expect(summary?.topProcesses.map((p) => p.pid)).toEqual([77]);
    // The buffer still holds the idle samples: the next capture, told to keep them, has them.
    includeIdle = true;
    const kept = captures.start({ ...request(), beforeMs: 30_000 });
    await expect.poll(() => parts.completed.length).toBe(2);
    expect(written[1].profile.samples).toBe(60);
    expect([...parseFolded(artifact(dir, kept, 'stacks.folded').toString()).keys()].some((path) => path.startsWith('swapper/0;'))).toBe(true);
    expect(parseIncidentSummary(artifact(dir, kept, 'summary.json').toString())?.idle).toMatchObject({ samples: 20, included: true });
  });

  it('draws what a process rule watched alone, for the notifications, and names its executable as pprof\'s main binary', async () => {
    const dir = join(scratch, 'process-scope');
    rmSync(dir, { recursive: true, force: true });
    const parts = await setup(dir, { frequency: () => 100, cpus: () => 1 }, (pid) => (pid === 77 ? appSnapshot(77) : undefined));
    const { buffer, captures } = parts;
    new BatchIngest(parts.tables, buffer).ingest(encodeRecords(ticks((i) => (i % 2 === 0 ? { pid: 77, comm: 'app', user: [0x401000n] } : { pid: 88, comm: 'noisy', user: [0x402000n] }))));
    const id = captures.start({ ...request(), beforeMs: 30_000, rule: 'app-spin', instance: { kind: 'process', pid: 77, startTime: 0, comm: 'app', cmdline: '/usr/bin/app --serve' } });
    await expect.poll(() => parts.completed.length).toBe(1);
    const files = readdirSync(join(dir, 'incidents', id));
    expect(files).toEqual(expect.arrayContaining(['process.svg', 'process.png', 'flamegraph.png']));
    expect(files).not.toContain('cgroup.png');
    const alone = artifact(dir, id, 'process.svg').toString();
    expect(alone).toContain('app (pid 77) only');
    expect(alone).not.toContain('noisy');
    const png = readPngText(artifact(dir, id, 'process.png'));
    expect(png.get('Title')).toBe('app-spin on test-host · app (pid 77)');
    expect(png.get('Description')).toMatch(/^Flamegraph of app \(pid 77\): 30 samples\. Hottest functions \(self\): \[app\+0x1000\] 100\.0%\.$/);
    // The whole host's picture is still there, with both processes and the idle share.
    expect(readPngText(artifact(dir, id, 'flamegraph.png')).get('Description')).toMatch(/^Flamegraph of every process: 60 samples\./);
    const pprof = Profile.decode(gunzipSync(artifact(dir, id, 'profile.pb.gz')));
    const strings = pprof.stringTable.strings;
    expect([Number(pprof.mapping[0]?.id), strings[Number(pprof.mapping[0]?.filename)]]).toEqual([1, '/usr/bin/app']);
    expect(parseIncidentSummary(artifact(dir, id, 'summary.json').toString())?.scope).toEqual({ pid: 77, comm: 'app', samples: 30 });
  });

  it('draws the processes of a cgroup rule\'s cgroup, and those below it, alone', async () => {
    const root = findCgroup2Mount(readFileSync('/proc/self/mounts', 'utf8'));
    expect(root, 'cgroup v2 is mounted').toBeDefined();
    const name = `tail2-capture-${process.pid}.scope`;
    const directory = join(root!, name);
    mkdirSync(join(directory, 'worker'), { recursive: true });
    const worker = spawn('sleep', ['60'], { stdio: 'ignore' });
    const dir = join(scratch, 'cgroup-scope');
    try {
      writeFileSync(join(directory, 'worker', 'cgroup.procs'), String(worker.pid));
      rmSync(dir, { recursive: true, force: true });
      const parts = await setup(dir, { frequency: () => 100, cpus: () => 1 });
      const { buffer, captures } = parts;
      new BatchIngest(parts.tables, buffer).ingest(encodeRecords(ticks((i) => (i % 2 === 0 ? { pid: worker.pid!, comm: 'worker', user: [0x401000n] } : { pid: 88, comm: 'noisy', user: [0x402000n] }))));
      const id = captures.start({ ...request(), beforeMs: 30_000, rule: 'unit-spin', instance: { kind: 'cgroup', path: `/${name}`, unit: name } });
      await expect.poll(() => parts.completed.length).toBe(1);
      const files = readdirSync(join(dir, 'incidents', id));
      expect(files).toEqual(expect.arrayContaining(['cgroup.svg', 'cgroup.png']));
      expect(files).not.toContain('process.png');
      const alone = artifact(dir, id, 'cgroup.svg').toString();
      expect(alone).toContain('worker');
      expect(alone).not.toContain('noisy');
      expect(readPngText(artifact(dir, id, 'cgroup.png')).get('Description')).toMatch(new RegExp(`^Flamegraph of ${name.replace(/\./g, '\\.')}: 30 samples\\.`));
      expect(parseIncidentSummary(artifact(dir, id, 'summary.json').toString())?.scope).toEqual({ cgroup: `/${name}`, unit: name, processes: 1, samples: 30 });
    } finally {
      worker.kill('SIGKILL');
      await once(worker, 'exit');
      // The killed task leaves the cgroup asynchronously: EBUSY until it has.
      await vi.waitFor(
        () => {
          if (existsSync(join(directory, 'worker'))) rmdirSync(join(directory, 'worker'));
          rmdirSync(directory);
        },
        { timeout: 5_000, interval: 50 },
      );
    }
  });

  it('writes an incident whose renderer throws without that artifact, naming it in problems, and lets the window go', async () => {
    const dir = join(scratch, 'render-throws');
    rmSync(dir, { recursive: true, force: true });
    // Every renderer but the SVG flamegraph's, which fails as a renderer's bug would.
    const renderers = INCIDENT_RENDERERS.map((r) =>
      r.name === 'flamegraph.svg'
        ? {
            name: r.name,
            render: () => {
              throw new RangeError('Invalid string length');
            },
          }
        : r,
    );
    const { store, buffer, captures, written, completed, lost } = await setup(dir, { renderers: () => renderers });
    const id = captures.start(request());
    await expect.poll(() => written.length).toBe(1);
    await expect.poll(() => completed.length).toBe(1);
    expect(captures.pending()).toEqual([]);
    expect(buffer.stats().pins).toBe(0);
    expect(lost).toEqual([]);

    const onDisk = await store.get(id);
    expect(onDisk?.problems).toEqual([{ part: 'flamegraph.svg', error: 'Invalid string length' }]);
    const files = readdirSync(join(dir, 'incidents', id)).sort();
    expect(files).toContain('samples.json.gz');
    expect(files).toContain('stacks.folded');
    expect(files).not.toContain('flamegraph.svg');
    // The notification is still owed: the incident is stored, only a picture is missing.
    expect(store.outbox().map((e) => e.id)).toEqual([id]);
  });

  it('stores and hands on an incident with what its notification carries, then adds every other artifact', async () => {
    const dir = join(scratch, 'staged');
    rmSync(dir, { recursive: true, force: true });
    // The SVG waits for the test: the incident must be stored and notified without it.
    const { renderers, release } = heldBack('flamegraph.svg');
    const { store, captures, stored, completed } = await setup(dir, { renderers: () => renderers });
    const id = captures.start(request());
    await expect.poll(() => stored.length).toBe(1);
    expect(stored[0].inOutbox).toBe(true);
    const incidentDir = join(dir, 'incidents', id);
    expect(readdirSync(incidentDir).sort()).toEqual(['flamegraph.png', 'incident.json', 'samples.json.gz', 'summary.json']);
    const bytesStored = store.stats().bytes;

    release();
    await expect.poll(() => completed.length).toBe(1);
    const expected = ['diff.svg', 'flamegraph.png', 'flamegraph.svg', 'incident.json', 'profile.pb.gz', 'samples.json.gz', 'speedscope.json', 'stacks.folded', 'summary.json'];
    // diff.svg only with a baseline, which a manual capture has not.
    const present = readdirSync(incidentDir).sort();
    expect(present).toEqual(expected.filter((name) => name !== 'diff.svg'));
    expect(completed[0].files.sort()).toEqual(['flamegraph.svg', 'profile.pb.gz', 'speedscope.json', 'stacks.folded']);
    expect((await store.get(id))?.problems).toBeUndefined();
    // The index counts the files added later against the disk limit.
    expect(store.stats().bytes).toBeGreaterThan(bytesStored);
    // No temporary file is left behind.
    expect(present.filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('at shutdown, waits for a stored incident\'s other artifacts before it resolves', async () => {
    const dir = join(scratch, 'staged-shutdown');
    rmSync(dir, { recursive: true, force: true });
    const { renderers, release } = heldBack('speedscope.json');
    const { captures, stored, completed } = await setup(dir, { renderers: () => renderers });
    const id = captures.start(request());
    await expect.poll(() => stored.length).toBe(1);
    let finished = false;
    const finishing = captures.finishAll().then(() => (finished = true));
    // Still waiting on the gated renderer: finishAll has not resolved.
    await new Promise((resolve) => setImmediate(resolve));
    expect(finished).toBe(false);
    release();
    await finishing;
    expect(completed.map((c) => c.id)).toEqual([id]);
    expect(readdirSync(join(dir, 'incidents', id))).toContain('speedscope.json');
  });

  describe('on a full disk', () => {
    const mountPoint = join(scratch, `tmpfs-${process.pid}`);
    let mounted = false;

    afterAll(() => {
      if (mounted) execFileSync('umount', ['-l', mountPoint]);
    });

    /** A fresh small tmpfs holding an open store, filled with ballast until `leaveBytes` remain. */
    async function fullDisk(leaveBytes: number, overrides: Partial<CaptureDependencies>) {
      if (mounted) execFileSync('umount', ['-l', mountPoint]);
      mkdirSync(mountPoint, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
      mounted = true;
      const parts = await setup(mountPoint, overrides);
      const stats = statfsSync(mountPoint);
      const free = Number(stats.bavail) * Number(stats.bsize);
      writeFileSync(join(mountPoint, 'ballast'), new Uint8Array(Math.max(0, free - leaveBytes)));
      return parts;
    }

    it('retries a write that fails with ENOSPC, keeping the capture, and writes it whole once space is freed', async () => {
      const { store, captures, written, errors, buffer } = await fullDisk(0, { retryDelayMs: 100, retryForMs: 3_600_000 });
      const id = captures.start(request());
      await expect.poll(() => errors.filter((e) => e.willRetry).length).toBeGreaterThanOrEqual(2);
      expect(errors.every((e) => e.willRetry && (e.error as { code?: string }).code === 'ENOSPC')).toBe(true);
      // Symbolized already: only the rendered files wait, not the window in the buffer.
      expect(captures.pending()).toEqual([expect.objectContaining({ id, pinned: false })]);
      expect(buffer.stats().pins).toBe(0);
      rmSync(join(mountPoint, 'ballast'));
      await expect.poll(() => written.length, { timeout: 120_000 }).toBe(1);
      expect((await store.get(id))?.problems).toBeUndefined();
      expect(readdirSync(join(mountPoint, 'incidents', id))).toContain('flamegraph.png');
    });

    it('past the retry time, writes the incident reduced to incident.json and samples when that fits', async () => {
      // Room for two small files and their index row, not for what is stored with incident.json
      // before the notification (tmpfs gives each file at least a 4 KiB page; the PNG is 64 KiB).
      const bigPng = INCIDENT_RENDERERS.map((r) => (r.name === 'flamegraph.png' ? { name: r.name, render: () => new Uint8Array(64 * 1024) } : r));
      const { store, captures, written, stored, lost } = await fullDisk(40 * 1024, { retryDelayMs: 100, retryForMs: 1_000, renderers: () => bigPng });
      const id = captures.start(request());
      await expect.poll(() => written.length + lost.length, { timeout: 60_000 }).toBe(1);
      expect(lost).toEqual([]);
      // Told once, after the write that went through, with its notifications already owed.
      expect(stored).toEqual([{ id, directory: join(mountPoint, 'incidents', id), inOutbox: true }]);
      const record = await store.get(id);
      expect(record?.problems).toEqual([expect.objectContaining({ part: 'artifacts', code: 'ENOSPC', error: expect.stringMatching(/^not written \(.*flamegraph\.png.*\): cannot write incident/) })]);
      expect(readdirSync(join(mountPoint, 'incidents', id)).sort()).toEqual(['incident.json', 'samples.json.gz']);
      expect(JSON.parse(readFileSync(join(mountPoint, 'incidents', id, 'incident.json'), 'utf8')).problems[0].part).toBe('artifacts');
    });

    it('when not even the reduced incident fits, reports it lost and holds nothing', async () => {
      const { captures, written, lost, buffer } = await fullDisk(0, { retryDelayMs: 100, retryForMs: 1_000 });
      const id = captures.start(request());
      await expect.poll(() => lost.length, { timeout: 60_000 }).toBe(1);
      expect(lost[0].id).toBe(id);
      expect((lost[0].error as { code?: string }).code).toBe('ENOSPC');
      expect(written).toEqual([]);
      expect(captures.lost()).toBe(1);
      expect(captures.pending()).toEqual([]);
      expect(buffer.stats().pins).toBe(0);
      expect(existsSync(join(mountPoint, 'incidents', id))).toBe(false);
    });
  });
});
