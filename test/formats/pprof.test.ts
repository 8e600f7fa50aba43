import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePprof, encodePprofGzip } from '../../daemon/formats/pprof.js';
import { buildProfile } from '../helpers/profile-fixture.js';

const execFileAsync = promisify(execFile);

const profile = buildProfile([
  { frames: ['main', 'outer', 'middle', 'leaf_spin'], count: 90 },
  { frames: ['main', 'other'], count: 10 },
  {
    frames: ['main', 'write_all', { name: 'entry_SYSCALL_64', kind: 'kernel' }, { name: 'ksys_write', kind: 'kernel', module: '[kernel.kallsyms]' }],
    comm: 'writer',
    pid: 77,
    count: 7,
  },
  {
    frames: [
      'main',
      { name: 'decode', kind: 'native', module: '/usr/bin/fixture', file: 'decode.c', line: 10 },
      { name: 'parse_header', kind: 'native', module: '/usr/bin/fixture', file: 'decode.c', line: 42, inlined: true },
      { name: 'read_u16', kind: 'native', module: '/usr/bin/fixture', file: 'bytes.h', line: 7, inlined: true },
    ],
    count: 3,
  },
]);
const periodNs = 1e9 / 99;

/** Temp dir holding the encoded file; also HOME for `go tool pprof`. */
let workDir = '';
let pprofFile = '';

/** Runs `go tool pprof` with a private HOME so it never writes to the real ~/pprof. */
async function goPprof(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('go', ['tool', 'pprof', ...args], {
    env: { ...process.env, HOME: workDir, PPROF_TMPDIR: workDir },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

interface Trace {
  value: number;
  /** Function names, leaf first, as pprof prints them. */
  frames: string[];
  labels: Record<string, string>;
}

/** Parses `go tool pprof -traces` output: blocks of `key: value` labels, then `VALUE leaf` and the callers. */
function parseTraces(text: string): Trace[] {
  const blocks = text.split(/^-+\+-+$/m).slice(1);
  return blocks
    .map((block) => block.split('\n').filter((l) => l.trim() !== ''))
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const trace: Trace = { value: Number.NaN, frames: [], labels: {} };
      for (const line of lines) {
        const label = /^\s*(\w+):\s+(.*)$/.exec(line);
        const head = /^\s*(\d+)\s{3}(.*)$/.exec(line);
        if (label && trace.frames.length === 0) trace.labels[label[1] ?? ''] = (label[2] ?? '').trim();
        else if (head) {
          trace.value = Number(head[1]);
          trace.frames.push((head[2] ?? '').trim());
        } else trace.frames.push(line.trim());
      }
      return trace;
    });
}

describe('encodePprofGzip read by go tool pprof', () => {
  beforeAll(async () => {
    try {
      execFileSync('go', ['version'], { stdio: 'pipe' });
    } catch (error) {
      throw new Error(
        `this test decodes pprof output with an independent decoder, \`go tool pprof\`, but \`go version\` failed ` +
          `(${(error as Error).message}); install Go (apt-get install golang-go; scripts/setup.sh does this)`,
      );
    }
    workDir = mkdtempSync(join(tmpdir(), 'tail2-pprof-'));
    pprofFile = join(workDir, 'profile.pb.gz');
    writeFileSync(pprofFile, await encodePprofGzip(profile));
  });

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('gives leaf_spin its 90 samples and the full call chain', async () => {
    const traces = parseTraces(await goPprof('-traces', '-sample_index=samples', pprofFile));
    expect(traces).toHaveLength(4);
    const byLeaf = new Map(traces.map((t) => [t.frames[0], t]));
    expect(byLeaf.get('leaf_spin')).toEqual({
      value: 90,
      frames: ['leaf_spin', 'middle', 'outer', 'main'],
      labels: { comm: 'fixture', pid: '4242' },
    });
    expect(byLeaf.get('other')).toMatchObject({ value: 10, frames: ['other', 'main'] });
    expect(byLeaf.get('ksys_write')).toEqual({
      value: 7,
      frames: ['ksys_write', 'entry_SYSCALL_64', 'write_all', 'main'],
      labels: { comm: 'writer', pid: '77' },
    });
    // Inlined functions appear as their own (inline) entries of the caller's location.
    expect(byLeaf.get('read_u16 (inline)')).toMatchObject({
      value: 3,
      frames: ['read_u16 (inline)', 'parse_header (inline)', 'decode', 'main'],
    });
  });

  it('reports cpu time as samples × period in nanoseconds', async () => {
    const top = await goPprof('-top', '-nodecount=10', '-sample_index=cpu', '-unit=ns', pprofFile);
    expect(top).toContain(`Total samples = ${Math.round(90 * periodNs) + Math.round(10 * periodNs) + Math.round(7 * periodNs) + Math.round(3 * periodNs)}ns`);
    const leafRow = top.split('\n').find((line) => /\sleaf_spin$/.test(line));
    expect(leafRow).toBeDefined();
    const [flat, , , cum] = (leafRow ?? '').trim().split(/\s+/);
    expect(flat).toBe(`${Math.round(90 * periodNs)}ns`);
    expect(cum).toBe(`${Math.round(90 * periodNs)}ns`);
    const mainRow = top.split('\n').find((line) => /\smain$/.test(line));
    expect((mainRow ?? '').trim().split(/\s+/)[3]).toBe(`${Math.round(110 * periodNs)}ns`);
  });

  it('writes period, start time, duration and mappings that pprof prints back', async () => {
    const raw = await goPprof('-raw', pprofFile);
    expect(raw).toContain('PeriodType: cpu nanoseconds');
    expect(raw).toContain(`Period: ${Math.round(periodNs)}`);
    expect(raw).toContain('Time: 2026-11-25 03:00:00 +0000 UTC');
    expect(raw).toMatch(/^samples\/count cpu\/nanoseconds\[dflt\]$/m);
    expect(raw).toMatch(/^\d+: 0x0\/0x0\/0x0 \/usr\/bin\/fixture\s+\[FN\]\[FL\]\[LN\]\[IN\]$/m);
    expect(raw).toMatch(/^\d+: 0x0\/0x0\/0x0 \[kernel\.kallsyms\]\s+\[FN\]\[FL\]\[LN\]$/m);
  });

  it('names the profiled program as mapping 1, the main binary pprof reports as File', async () => {
    const single = join(workDir, 'single.pb.gz');
    writeFileSync(single, await encodePprofGzip(profile, { mainBinary: '/usr/bin/fixture', comments: ['CPUs 45% idle'] }));
    expect(await goPprof('-raw', single)).toMatch(/^Mappings\n1: 0x0\/0x0\/0x0 \/usr\/bin\/fixture\s/m);
    expect(await goPprof('-top', single)).toMatch(/^File: fixture$/m);
    expect(await goPprof('-comments', single)).toBe('fixture profile\nCPUs 45% idle\n');
    // A profile of the whole host names the kernel, which every process runs on, not one of them.
    expect(await goPprof('-raw', pprofFile)).toMatch(/^Mappings\n1: 0x0\/0x0\/0x0 \[kernel\.kallsyms\]\s/m);
    expect(await goPprof('-top', pprofFile)).toMatch(/^File: \[kernel\.kallsyms\]$/m);
  });
});

describe('encodePprof decoded by pprof-format', () => {
  const decoded = Profile.decode(encodePprof(profile));
  const strings = decoded.stringTable.strings;
  const str = (index: number | bigint): string => strings[Number(index)] ?? `<bad string ${index}>`;
  const functionName = (id: number | bigint): string => str(decoded.function.find((f) => Number(f.id) === Number(id))?.name ?? -1);
  const location = (id: number | bigint) => decoded.location.find((l) => Number(l.id) === Number(id));
  const leafFirstNames = (locationIds: Array<number | bigint>): string[] =>
    locationIds.flatMap((id) => (location(id)?.line ?? []).map((line) => functionName(line.functionId)));

  it('starts the string table with "" and declares both sample types', () => {
    expect(strings[0]).toBe('');
    expect(decoded.sampleType.map((t) => `${str(t.type)}/${str(t.unit)}`)).toEqual(['samples/count', 'cpu/nanoseconds']);
    expect(`${str(decoded.periodType?.type ?? 0)}/${str(decoded.periodType?.unit ?? 0)}`).toBe('cpu/nanoseconds');
    expect(Number(decoded.period)).toBe(Math.round(periodNs));
    expect(BigInt(decoded.timeNanos)).toBe(BigInt(profile.startTimeMs) * 1_000_000n);
    expect(Number(decoded.durationNanos)).toBe(Math.round(profile.durationNs));
    expect(decoded.comment.map(str)).toEqual(['fixture profile']);
  });

  it('writes one sample per stack, leaf first, with pid and comm labels', () => {
    expect(decoded.sample).toHaveLength(4);
    const spin = decoded.sample.find((s) => leafFirstNames(s.locationId)[0] === 'leaf_spin');
    expect(spin).toBeDefined();
    expect(leafFirstNames(spin?.locationId ?? [])).toEqual(['leaf_spin', 'middle', 'outer', 'main']);
    expect((spin?.value ?? []).map(Number)).toEqual([90, Math.round(90 * periodNs)]);
    const labels = (spin?.label ?? []).map((l) => [str(l.key), Number(l.num) || str(l.str)]);
    expect(labels).toEqual([
      ['pid', 4242],
      ['comm', 'fixture'],
    ]);
    const total = decoded.sample.reduce((sum, s) => sum + Number(s.value[0]), 0);
    expect(total).toBe(profile.samples.stack.length);
  });

  it('folds inlined frames into the location of the frame they were inlined into, innermost first', () => {
    const inlined = decoded.location.filter((l) => l.line.length > 1);
    expect(inlined).toHaveLength(1);
    const [loc] = inlined;
    expect(loc?.line.map((line) => functionName(line.functionId))).toEqual(['read_u16', 'parse_header', 'decode']);
    expect(loc?.line.map((line) => Number(line.line))).toEqual([7, 42, 10]);
    const decodeFrame = profile.frames.find((f) => f.name === 'decode');
    expect(BigInt(loc?.address ?? -1)).toBe(decodeFrame?.address);
    // The sample's stack has three locations for its four frames: main, and decode with two inlined.
    const sample = decoded.sample.find((s) => s.locationId.some((id) => Number(id) === Number(loc?.id)));
    expect(sample?.locationId.map(Number)).toEqual([Number(loc?.id), Number(decoded.location.find((l) => functionName(l.line[0]?.functionId ?? 0) === 'main')?.id)]);
  });

  it('dedupes functions and locations, and maps kernel frames to [kernel.kallsyms]', () => {
    const names = decoded.function.map((f) => `${str(f.name)}@${str(f.filename)}`);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.startsWith('main@'))).toHaveLength(1);
    // 10 distinct frames in the fixture, two of which are inlined into `decode`'s location.
    expect(decoded.location).toHaveLength(profile.frames.length - 2);
    const mappingName = (id: number | bigint) => str(decoded.mapping.find((m) => Number(m.id) === Number(id))?.filename ?? -1);
    const mappingOf = (fn: string) =>
      mappingName(decoded.location.find((l) => functionName(l.line[0]?.functionId ?? 0) === fn)?.mappingId ?? -1);
    expect(mappingOf('ksys_write')).toBe('[kernel.kallsyms]');
    expect(mappingOf('entry_SYSCALL_64')).toBe('[kernel.kallsyms]');
    expect(mappingOf('leaf_spin')).toBe('/usr/bin/fixture');
    expect(decoded.mapping.map((m) => str(m.filename)).sort()).toEqual(['/usr/bin/fixture', '[kernel.kallsyms]']);
  });

  it('makes the main binary mapping 1 even when none of the samples ran in it', () => {
    const inLibc = buildProfile([{ frames: [{ name: 'memcpy', kind: 'native', module: '/usr/lib/libc.so.6' }], count: 5 }]);
    const withMain = Profile.decode(encodePprof(inLibc, { mainBinary: '/usr/sbin/nginx' }));
    const name = (m: { filename: number | bigint }) => withMain.stringTable.strings[Number(m.filename)];
    expect(withMain.mapping.map((m) => [Number(m.id), name(m)])).toEqual([
      [1, '/usr/sbin/nginx'],
      [2, '/usr/lib/libc.so.6'],
    ]);
    expect(withMain.location.map((l) => Number(l.mappingId))).toEqual([2]);
    // The same file met among the frames is that one mapping, not a second.
    const own = Profile.decode(encodePprof(profile, { mainBinary: '/usr/bin/fixture' }));
    expect(own.mapping.map((m) => own.stringTable.strings[Number(m.filename)])).toEqual(['/usr/bin/fixture', '[kernel.kallsyms]']);
  });

  it('encodes an empty profile that still decodes', () => {
    const empty = Profile.decode(encodePprof(buildProfile([])));
    expect(empty.sample).toHaveLength(0);
    expect(empty.stringTable.strings[0]).toBe('');
  });

  it('gzips the same bytes encodePprof returns', async () => {
    expect(new Uint8Array(gunzipSync(await encodePprofGzip(profile)))).toEqual(encodePprof(profile));
  });
});
