import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import { CaptureManager, type CaptureDependencies, type CaptureRequest } from '../../daemon/capture/capture-manager.js';
import { INCIDENT_RENDERERS, renderIncidentFiles } from '../../daemon/capture/incident-files.js';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { createStackTables } from '../../daemon/profile/stack-tables.js';
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

async function setup(dir: string, overrides: Partial<CaptureDependencies> = {}) {
  const store = await IncidentStore.open(dir);
  cleanups.push(() => store.close());
  const files = new ProcessFiles();
  cleanups.push(() => files.close());
  const tables = createStackTables();
  const buffer = new RollingBuffer(tables, { retainNs: 60e9, maxBytes: 64 * 1024 * 1024 });
  const written: IncidentRecord[] = [];
  /** What onStored saw: where the incident went, and whether its notifications were in the store's outbox then. */
  const stored: Array<{ id: string; directory: string; inOutbox: boolean }> = [];
  const lost: Array<{ id: string; error: Error }> = [];
  const errors: Array<{ id: string; error: Error; willRetry: boolean }> = [];
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
    ...overrides,
  });
  return { store, buffer, tables, captures, written, stored, lost, errors };
}

function request(): CaptureRequest {
  return { rule: 'manual', trigger: { kind: 'manual', reason: 'test' }, instance: { kind: 'system' }, atMs: Date.now(), beforeMs: 1000, afterMs: 0, notify: ['oncall-slack'], metrics: ['cpu'] };
}

describe('CaptureManager', () => {
  it('captures every kind of profile the window holds, each with artifacts of its own in its unit', async () => {
    const dir = join(scratch, 'kinds');
    rmSync(dir, { recursive: true, force: true });
    const parts = await setup(dir);
    const { store, buffer, captures, written } = parts;
    // Samples of now: CPU (kind 0) and page faults (a kind no producer writes yet), through the real decoder.
    const now = Number(process.hrtime.bigint());
    const user = [0x401000n, 0x402000n];
    const records: SyntheticRecord[] = [
      ...Array.from({ length: 20 }, (_, i) => ({ timeNs: now - 5e8 + i * 1e6, pid: 77, comm: 'app', user })),
      ...Array.from({ length: 3 }, (_, i) => ({ timeNs: now - 4e8 + i * 1e6, pid: 77, comm: 'app', kind: PROFILE_KINDS.page_faults.record, weight: 4096, user })),
    ];
    new BatchIngest(parts.tables, buffer).ingest(encodeRecords(records.sort((a, b) => a.timeNs - b.timeNs)));
    const id = captures.start(request());
    await expect.poll(() => written.length).toBe(1);
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
    const { store, buffer, captures, written, lost } = await setup(dir, { render: (record, profiles) => renderIncidentFiles(record, profiles, renderers) });
    const id = captures.start(request());
    await expect.poll(() => written.length).toBe(1);
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
      // Room for two small files and their index row, not for the nine files of a whole incident
      // (tmpfs gives each file at least a 4 KiB page).
      const { store, captures, written, stored, lost } = await fullDisk(40 * 1024, { retryDelayMs: 100, retryForMs: 1_000 });
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
