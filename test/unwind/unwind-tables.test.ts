// The daemon's unwind tables (daemon/unwind/): real tail2-reader processes against real files —
// Debian's libc and libstdc++, a C++ fixture, copies of them (another path, no build ID, stripped of
// .eh_frame) — and real cache files under a state directory, some of them damaged on purpose.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnwindTable } from '../../daemon/model/unwind-table.js';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import { UnwindTables, type UnwindTablesOptions } from '../../daemon/unwind/unwind-tables.js';
import { unwindTableBytes } from '../../daemon/unwind/unwind-memory-cache.js';
import { decodeUnwindTableFile, encodeUnwindTableFile } from '../../daemon/unwind/unwind-table-file.js';
import { readelf } from '../helpers/cfi-golden.js';
import { hostFile } from '../helpers/host-file.js';

const libc = '/lib/x86_64-linux-gnu/libc.so.6';
const libstdcxx = '/usr/lib/x86_64-linux-gnu/libstdc++.so.6';
const fixtureSource = fileURLToPath(new URL('../fixtures/symbolize/inlined.cc', import.meta.url));

let tmp: string;
let fixture: string;
let noBuildId: string;
let stripped: string;
let libcCopy: string;
const opened: ProcessFiles[] = [];

function buildIdOf(file: string): string {
  const id = /Build ID: ([0-9a-f]+)/.exec(readelf(['-n', file]))?.[1];
  if (!id) throw new Error(`${file} has no build ID`);
  return id;
}

function reader(): ProcessFiles {
  const files = new ProcessFiles({ debugDirectories: [] });
  opened.push(files);
  return files;
}

/** A daemon's tables: a new reader and a new UnwindTables, as after a restart. */
function daemon(options: Partial<UnwindTablesOptions> = {}): { files: ProcessFiles; tables: UnwindTables; problems: string[] } {
  const files = reader();
  const problems: string[] = [];
  const tables = new UnwindTables({ files, onProblem: (message) => problems.push(message), ...options });
  return { files, tables, problems };
}

/** Requests the reader processes were sent so far. */
const requests = (files: ProcessFiles) => files.status().readers.reduce((n, r) => n + r.requests, 0);

function tableOf(tables: UnwindTables, file: string): Promise<UnwindTable | undefined> {
  const { process, mapping } = hostFile(file);
  return tables.tableFor(process, mapping);
}

function mustTable(table: UnwindTable | undefined): UnwindTable {
  if (!table) throw new Error('no table');
  return table;
}

const cacheDir = (stateDir: string) => path.join(stateDir, 'unwind-tables');
const cacheFile = (stateDir: string, file: string) => path.join(cacheDir(stateDir), `${buildIdOf(file)}.unwind`);

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-unwind-tables-'));
  fixture = path.join(tmp, 'inlined');
  execFileSync('g++', ['-O2', '-g', '-o', fixture, fixtureSource]);
  noBuildId = path.join(tmp, 'no-build-id');
  execFileSync('g++', ['-O2', '-Wl,--build-id=none', '-o', noBuildId, fixtureSource]);
  stripped = path.join(tmp, 'stripped');
  execFileSync('g++', ['-O2', '-o', stripped, fixtureSource]);
  execFileSync('objcopy', ['--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', '--remove-section', '.debug_frame', stripped]);
  libcCopy = path.join(tmp, 'libc-copy.so.6');
  copyFileSync(libc, libcCopy);
});

afterAll(() => {
  for (const files of opened) files.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('one table per file, shared', () => {
  it('builds once for two processes mapping libc and a copy of it under another path, keyed by build ID', async () => {
    const { files, tables } = daemon();
    const before = requests(files);
    const a = hostFile(libc);
    const b = hostFile(libc);
    const c = hostFile(libcCopy);
    expect(c.mapping.cacheKey).not.toBe(a.mapping.cacheKey);
    const [ta, tb, tc] = await Promise.all([tables.tableFor(a.process, a.mapping), tables.tableFor(b.process, b.mapping), tables.tableFor(c.process, c.mapping)]);
    expect(ta).toBeDefined();
    expect(tb).toBe(ta);
    expect(tc).toBe(ta);
    const table = mustTable(ta);
    expect(table.key).toBe(`build-id:${buildIdOf(libc)}`);
    // One build_id per distinct mapping, one unwind_table for the file.
    expect(requests(files) - before).toBe(3);
    expect(tables.status()).toMatchObject({ built: 1, shared: 2, from_disk: 0, no_cfi: 0, failed: {}, tables_in_memory: 1 });
    expect(tables.status().bytes_in_memory).toBe(unwindTableBytes(table));
    // Asked again: from memory, no request at all.
    expect(await tables.tableFor(a.process, a.mapping)).toBe(ta);
    expect(requests(files) - before).toBe(3);
  });

  it('has the rows, base and segments of the file', async () => {
    const { tables } = daemon();
    const table = mustTable(await tableOf(tables, libc));
    expect(table.rows.length).toBe(table.stats.rows * 8);
    expect(table.stats.rows).toBeGreaterThan(10_000);
    const loads = readelf(['-lW', libc])
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[0] === 'LOAD')
      .map((f) => [Number(f[1]), Number(f[2]), Number(f[4])]);
    expect(table.segments).toEqual(loads);
    // The first row is at the lowest address an FDE covers.
    const lowest = Math.min(
      ...[...readelf(['--debug-dump=frames'], libc).matchAll(/ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\./g)].map((m) => parseInt(m[1], 16)),
    );
    expect(table.base).toBe(lowest);
    expect(table.rows.readUInt32LE(0)).toBe(0);
  });

  it('keys a file without a build ID by its mapping, and keeps it in memory only', async () => {
    const stateDir = path.join(tmp, 'state-no-build-id');
    const { tables } = daemon({ stateDir });
    const { mapping } = hostFile(noBuildId);
    const table = mustTable(await tableOf(tables, noBuildId));
    expect(table.key).toBe(`file:${mapping.cacheKey}`);
    await tables.flush();
    expect(tables.status()).toMatchObject({ built: 1, files_on_disk: 0 });
    // Nothing was written: the directory is not even created.
    expect(existsSync(cacheDir(stateDir)) ? readdirSync(cacheDir(stateDir)) : []).toEqual([]);
  });

  it('has no table for a file stripped of its CFI: counted as no_cfi, not as a problem', async () => {
    const { files, tables } = daemon();
    expect(await tableOf(tables, stripped)).toBeUndefined();
    expect(await tableOf(tables, stripped)).toBeUndefined();
    expect(tables.status()).toMatchObject({ built: 0, no_cfi: 1, shared: 1, failed: {} });
    expect(files.status().problems.counts).toEqual({});
  });

  it('builds again what its memory bound let go', async () => {
    const probe = daemon();
    const libcBytes = unwindTableBytes(mustTable(await tableOf(probe.tables, libc)));
    const fixtureBytes = unwindTableBytes(mustTable(await tableOf(probe.tables, fixture)));
    // Room for libc or the fixture, not both.
    const { tables } = daemon({ maxMemoryBytes: libcBytes + fixtureBytes - 1 });
    await tableOf(tables, libc);
    await tableOf(tables, fixture);
    await tableOf(tables, libc);
    expect(tables.status()).toMatchObject({ built: 3, tables_in_memory: 1 });
    expect(tables.status().bytes_in_memory).toBeLessThanOrEqual(libcBytes + fixtureBytes - 1);
  });

  it('does not ask again for a while about a file that failed for a reason of its own', async () => {
    const garbage = path.join(tmp, 'not-elf');
    writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const { files, tables } = daemon();
    await expect(tableOf(tables, garbage)).rejects.toMatchObject({ code: 'ENOTELF' });
    const after = requests(files);
    await expect(tableOf(tables, garbage)).rejects.toMatchObject({ code: 'ENOTELF' });
    expect(requests(files)).toBe(after);
    expect(tables.status().failed).toEqual({ ENOTELF: 1 });
    expect(files.status().problems.counts.ENOTELF).toBe(1);
  });
});

describe('the disk cache', () => {
  it('keeps tables in <state_dir>/unwind-tables/ (0700, files 0600) and reads them back after a restart, without building', async () => {
    const stateDir = path.join(tmp, 'state-restart');
    const first = daemon({ stateDir });
    const built = mustTable(await tableOf(first.tables, libc));
    await first.tables.flush();
    expect(statSync(cacheDir(stateDir)).mode & 0o777).toBe(0o700);
    const file = cacheFile(stateDir, libc);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.tables.status()).toMatchObject({ built: 1, files_on_disk: 1, bytes_on_disk: statSync(file).size });

    const second = daemon({ stateDir });
    const before = requests(second.files);
    const read = mustTable(await tableOf(second.tables, libc));
    expect(read.rows.equals(built.rows)).toBe(true);
    expect({ ...read, rows: undefined }).toEqual({ ...built, rows: undefined });
    // build_id, and nothing compiled.
    expect(requests(second.files) - before).toBe(1);
    expect(second.tables.status()).toMatchObject({ built: 0, from_disk: 1, files_on_disk: 1, corrupt_on_disk: 0 });
    expect(second.problems).toEqual([]);
  });

  const damages: Record<string, (file: string) => void> = {
    'a flipped byte in the rows': (file) => {
      const bytes = readFileSync(file);
      bytes[bytes.length - 3] ^= 0x40;
      writeFileSync(file, bytes);
    },
    'truncated to half': (file) => truncateSync(file, Math.floor(statSync(file).size / 2)),
    'empty': (file) => truncateSync(file, 0),
    'another format version': (file) => {
      const bytes = readFileSync(file);
      bytes.writeUInt32LE(99, 8);
      writeFileSync(file, bytes);
    },
    'garbage': (file) => writeFileSync(file, Buffer.alloc(statSync(file).size, 0xa5)),
    'one byte more': (file) => writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from([0])])),
    "another file's table under its name": (file) => {
      const other: UnwindTable = { key: 'build-id:00112233445566778899', base: 0, rows: Buffer.alloc(8), segments: [], stats: { fdes: 1, rows: 1, no_rule_rows: 0, cfa_expression: 0, out_of_range: 0, return_address: 0, frame_pointer: 0, end_rows: 0, signal_rows: 0, plt_rows: 0, work_limited_fdes: 0, sources: 'eh_frame', refused: '' } };
      writeFileSync(file, encodeUnwindTableFile(other));
    },
  };

  for (const [name, damage] of Object.entries(damages)) {
    it(`builds again over a cache file with ${name}, and replaces it with a valid one`, async () => {
      const stateDir = path.join(tmp, `state-${name.replace(/[^a-z]+/g, '-')}`);
      const first = daemon({ stateDir });
      const built = mustTable(await tableOf(first.tables, fixture));
      await first.tables.flush();
      const file = cacheFile(stateDir, fixture);
      damage(file);

      const second = daemon({ stateDir });
      const again = mustTable(await tableOf(second.tables, fixture));
      await second.tables.flush();
      expect(again.rows.equals(built.rows)).toBe(true);
      expect(second.tables.status()).toMatchObject({ built: 1, from_disk: 0, corrupt_on_disk: 1, files_on_disk: 1 });
      expect(second.problems).toHaveLength(1);
      expect(second.problems[0]).toContain(file);
      const decoded = decodeUnwindTableFile(readFileSync(file), built.key);
      expect(typeof decoded).toBe('object');
    });
  }

  it('stays under its bound, deleting the tables used longest ago', async () => {
    const probe = daemon();
    const size = async (file: string) => encodeUnwindTableFile(mustTable(await tableOf(probe.tables, file))).length;
    const [libcBytes, fixtureBytes, cxxBytes] = [await size(libc), await size(fixture), await size(libstdcxx)];
    const stateDir = path.join(tmp, 'state-bound');
    // Room for any two of the three.
    const maxDiskBytes = Math.max(libcBytes + fixtureBytes, libcBytes + cxxBytes, fixtureBytes + cxxBytes);
    const first = daemon({ stateDir, maxDiskBytes });
    await tableOf(first.tables, fixture);
    await first.tables.flush();
    await tableOf(first.tables, libc);
    await first.tables.flush();
    // After a restart, the fixture's table is read back: used more recently than libc's.
    const second = daemon({ stateDir, maxDiskBytes });
    await tableOf(second.tables, fixture);
    expect(second.tables.status()).toMatchObject({ from_disk: 1 });
    await tableOf(second.tables, libstdcxx);
    await second.tables.flush();
    const status = second.tables.status();
    expect(status).toMatchObject({ files_on_disk: 2, evicted_from_disk: 1, max_bytes_on_disk: maxDiskBytes });
    expect(status.bytes_on_disk).toBeLessThanOrEqual(maxDiskBytes);
    expect(existsSync(cacheFile(stateDir, libc))).toBe(false);
    expect(existsSync(cacheFile(stateDir, fixture))).toBe(true);
    expect(existsSync(cacheFile(stateDir, libstdcxx))).toBe(true);
    // Restarted with room for one, it deletes down to it at once: the fixture's table, used longest ago.
    const third = daemon({ stateDir, maxDiskBytes: Math.max(fixtureBytes, cxxBytes) });
    await tableOf(third.tables, libstdcxx);
    expect(third.tables.status()).toMatchObject({ from_disk: 1, built: 0, files_on_disk: 1, evicted_from_disk: 1 });
    expect(readdirSync(cacheDir(stateDir))).toEqual([path.basename(cacheFile(stateDir, libstdcxx))]);
  });

  it('deletes what a write cut short by a crash left behind, and leaves files not its own alone', async () => {
    const stateDir = path.join(tmp, 'state-leftovers');
    mkdirSync(cacheDir(stateDir), { recursive: true });
    const leftover = path.join(cacheDir(stateDir), `.${buildIdOf(fixture)}.unwind.tmp`);
    writeFileSync(leftover, 'half a table');
    const notOurs = path.join(cacheDir(stateDir), 'README');
    writeFileSync(notOurs, 'x');
    const { tables } = daemon({ stateDir });
    await tableOf(tables, fixture);
    await tables.flush();
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(notOurs)).toBe(true);
    expect(tables.status()).toMatchObject({ files_on_disk: 1 });
  });

  it('builds tables all the same when the directory cannot be used, and says why', async () => {
    const stateDir = path.join(tmp, 'state-is-a-file');
    writeFileSync(stateDir, 'not a directory');
    const { tables, problems } = daemon({ stateDir });
    const table = await tableOf(tables, fixture);
    await tables.flush();
    expect(table?.stats.rows).toBeGreaterThan(0);
    expect(tables.status()).toMatchObject({ built: 1, disk_errors: 1, files_on_disk: 0 });
    expect(problems[0]).toContain('unwind-tables');
  });
});
