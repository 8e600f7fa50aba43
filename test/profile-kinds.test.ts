// Profiles of several kinds, one shape: samples of a second kind (page faults, weighted in bytes;
// no producer writes them yet) go through the real decoder, buffer, symbolizer and every format,
// and come out in their own unit — while the CPU profile of the same buffer stays as it was.
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRecords, type SyntheticRecord } from '../harness/synthetic-records.js';
import { RollingBuffer } from '../daemon/buffer/rolling-buffer.js';
import { summarizeIncident } from '../daemon/capture/summarize-incident.js';
import { renderFlamegraphSvg } from '../daemon/formats/flamegraph-svg.js';
import { renderFolded } from '../daemon/formats/folded.js';
import { encodePprofGzip } from '../daemon/formats/pprof.js';
import { decodeProfileSamples, encodeProfileSamples } from '../daemon/formats/profile-samples.js';
import { renderSpeedscope } from '../daemon/formats/speedscope.js';
import { PROFILE_KINDS } from '../daemon/model/profile-kind.js';
import { BatchIngest } from '../daemon/profile/batch-ingest.js';
import { createStackTables } from '../daemon/profile/stack-tables.js';
import { RecordFlags } from '../daemon/sampler/sample-record.js';
import { ProcessFiles } from '../daemon/symbols/process-files.js';
import { ProfileSymbolizer } from '../daemon/symbols/profile-symbolizer.js';
import { snapshotBytes, type ProcessSnapshot } from '../daemon/symbols/proc-maps.js';
import { buildCFixture } from './helpers/fixtures.js';
import { hostFile } from './helpers/host-file.js';
import { xpath } from './helpers/xml.js';

const S = 1e9;
const BASE = 0x5555_0000_0000;
const binary = buildCFixture('burner');
const files = new ProcessFiles({ debugDirectories: [] });
afterAll(() => files.close());

/** The address a function of the burner fixture would have, mapped whole at BASE. */
function addressOf(name: string): bigint {
  const line = execFileSync('nm', ['--defined-only', binary], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(` ${name}`));
  if (!line) throw new Error(`${name} not in ${binary}`);
  const vaddr = BigInt(`0x${line.split(' ')[0]}`);
  for (const l of execFileSync('readelf', ['-lW', binary], { encoding: 'utf8' }).split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] !== 'LOAD') continue;
    const [offset, segVaddr, , filesz] = f.slice(1, 5).map((x) => BigInt(x));
    if (vaddr >= segVaddr && vaddr < segVaddr + filesz) return BigInt(BASE) + vaddr - segVaddr + offset + 4n;
  }
  throw new Error(`${name} is in no PT_LOAD`);
}

/** A process that mapped the burner at BASE and exited, sharing our root. */
function snapshot(): ProcessSnapshot {
  const { process, mapping } = hostFile(binary);
  const mapped = { ...mapping, start: BASE, end: BASE + 0x100000 };
  return { ...process, pid: 4242, mappings: [mapped], bytes: snapshotBytes('', [mapped]) };
}

function setup() {
  const tables = createStackTables(() => snapshot());
  const buffer = new RollingBuffer(tables, { retainNs: 3600 * S, maxBytes: 64 << 20 });
  const ingest = new BatchIngest(tables, buffer);
  const leaf = addressOf('leaf_spin');
  const outer = addressOf('outer');
  const main = addressOf('main');
  const records: SyntheticRecord[] = [];
  for (let i = 0; i < 100; i++) records.push({ timeNs: S + i * 1e7, pid: 4242, comm: 'burner', user: [leaf, main] });
  // Page faults: four samples weighing 8, 8, 8 and 4 KiB, under outer.
  for (const [i, bytes] of [8192, 8192, 8192, 4096].entries()) {
    records.push({ timeNs: S + i * 2e8 + 5e6, pid: 4242, comm: 'burner', kind: PROFILE_KINDS.page_faults.record, weight: bytes, user: [outer, main] });
  }
  records.sort((a, b) => a.timeNs - b.timeNs);
  ingest.ingest(encodeRecords(records));
  return { tables, buffer, ingest };
}

const symbolizer = new ProfileSymbolizer(files);
const options = { frequency: 99, monotonicToWallMs: (ns: number) => 1_700_000_000_000 + ns / 1e6 };

describe('profiles of several kinds, one shape', () => {
  it('takes one kind at a time out of the same buffer, each weighed in its own unit', async () => {
    const { tables, buffer } = setup();
    const faults = await symbolizer.symbolize(tables, buffer, { ...options, kind: 'page_faults' });
    const cpu = await symbolizer.symbolize(tables, buffer, options);
    expect(faults.kind).toBe('page_faults');
    expect(faults.samples.stack.length).toBe(4);
    expect([...(faults.samples.weight ?? [])]).toEqual([8192, 8192, 8192, 4096]);
    expect(cpu.kind).toBe('cpu');
    expect(cpu.samples.stack.length).toBe(100);
    expect(cpu.samples.weight).toBeUndefined(); // every CPU sample weighs 1: no column
    const leafOf = (p: typeof cpu) => new Set(p.stacks.map((s) => p.frames[s.frames[s.frames.length - 1]].name));
    expect(leafOf(cpu)).toEqual(new Set(['leaf_spin']));
    expect(leafOf(faults)).toEqual(new Set(['outer']));
  });

  it('writes each format in the kind\'s unit: pprof sample types, folded weights, speedscope, the SVG', async () => {
    const { tables, buffer } = setup();
    const faults = await symbolizer.symbolize(tables, buffer, { ...options, kind: 'page_faults' });

    const pprof = Profile.decode(gunzipSync(await encodePprofGzip(faults)));
    const text = (i: number | bigint) => pprof.stringTable.strings[Number(i)];
    expect(pprof.sampleType.map((t) => [text(t.type), text(t.unit)])).toEqual([['samples', 'count'], ['page_faults', 'bytes']]);
    expect(pprof.sample.reduce((sum, s) => sum + Number(s.value[1]), 0)).toBe(28672);
    expect(pprof.sample.reduce((sum, s) => sum + Number(s.value[0]), 0)).toBe(4);
    expect(text(pprof.periodType!.type)).toBe('page_faults');

    expect(renderFolded(faults).trim()).toBe('burner;main;outer 28672');

    const speedscope = renderSpeedscope(faults);
    expect(speedscope.profiles[0].unit).toBe('bytes');
    expect(speedscope.profiles[0].weights).toEqual([8192, 8192, 8192, 4096]);

    const svg = renderFlamegraphSvg(faults, { title: 'page faults' });
    expect(xpath(svg, "string(//*[local-name()='text'][@id='subtitle'])")).toContain('Page faults: 28.0 KiB in 4 samples');
    expect(xpath(svg, "string(//*[local-name()='g'][starts-with(*[local-name()='title'], 'outer')]/*[local-name()='title'])")).toMatch(/^outer \(28\.0 KiB, 100%\)/);

    const back = decodeProfileSamples(encodeProfileSamples(faults));
    expect(back.kind).toBe('page_faults');
    expect([...(back.samples.weight ?? [])]).toEqual([8192, 8192, 8192, 4096]);
  });

  it('summarizes by weight, and says of which kind', async () => {
    const { tables, buffer } = setup();
    // One more fault stack, lighter, so shares by weight differ from shares by count.
    const leaf = addressOf('leaf_spin');
    const main = addressOf('main');
    new BatchIngest(tables, buffer).ingest(
      encodeRecords(Array.from({ length: 4 }, (_, i) => ({ timeNs: 3 * S + i, pid: 4242, comm: 'burner', kind: PROFILE_KINDS.page_faults.record, weight: 1024, user: [leaf, main] }))),
    );
    const faults = await symbolizer.symbolize(tables, buffer, { ...options, kind: 'page_faults' });
    const summary = summarizeIncident(faults, undefined);
    expect(summary).toMatchObject({ kind: 'page_faults', unit: 'bytes', samples: 8 });
    const outer = summary.topFunctions.bySelf.find((f) => f.name === 'outer');
    // 28 KiB of 32 KiB, though only half the samples.
    expect(outer?.selfShare).toBeCloseTo(28672 / 32768, 6);
  });

  it('shows a stack the kernel could not read as such, and counts it', async () => {
    const tables = createStackTables(() => snapshot());
    const buffer = new RollingBuffer(tables, { retainNs: 3600 * S, maxBytes: 64 << 20 });
    const ingest = new BatchIngest(tables, buffer);
    ingest.ingest(encodeRecords([
      { timeNs: S, pid: 4242, comm: 'burner', flags: RecordFlags.ustackError, kernel: [0xffffffff81000100n] },
      { timeNs: S + 1, pid: 4242, comm: 'burner', user: [addressOf('leaf_spin')] },
    ]));
    expect(ingest.stackErrors).toEqual({ kernel: 0, user: 1 });
    const cpu = await symbolizer.symbolize(tables, buffer, options);
    const names = cpu.stacks.map((s) => s.frames.map((f) => cpu.frames[f].name));
    expect(names).toContainEqual(expect.arrayContaining(['[user stack not readable]']));
    expect(names.find((n) => n.includes('[user stack not readable]'))?.[0]).toBe('[user stack not readable]');
  });
});
