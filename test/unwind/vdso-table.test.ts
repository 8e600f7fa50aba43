// The vDSO's unwind table: tail2-reader compiles its own vDSO, which is the image this test
// process maps too (one kernel, one image). The test dumps its own copy from /proc/self/mem and
// checks the reader's table against readelf on that dump.
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwindRowsProblem } from '../../daemon/model/unwind-table.js';
import { ProcessFiles, type ReaderVdsoTable } from '../../daemon/symbols/process-files.js';
import type { ExecutableMapping } from '../../daemon/symbols/proc-maps.js';
import { UnwindTables } from '../../daemon/unwind/unwind-tables.js';
import { compareWithReadelf, readelf, readelfFrames, TableRows } from '../helpers/cfi-golden.js';
import { hostFile } from '../helpers/host-file.js';

let tmp: string;
let dump: string;
let image: Buffer;
let files: ProcessFiles;
let vdso: ReaderVdsoTable;

/** This process's [vdso] mapping, read whole from its memory. */
function ownVdso(): { start: number; end: number; bytes: Buffer } {
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((l) => l.endsWith('[vdso]'));
  if (!line) throw new Error('this process maps no [vdso]');
  const [start, end] = line.split(' ')[0].split('-').map((h) => parseInt(h, 16));
  const bytes = Buffer.alloc(end - start);
  const fd = openSync('/proc/self/mem', 'r');
  try {
    readSync(fd, bytes, 0, bytes.length, start);
  } finally {
    closeSync(fd);
  }
  return { start, end, bytes };
}

function fnv1a64(bytes: Buffer): string {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-vdso-'));
  image = ownVdso().bytes;
  dump = path.join(tmp, 'vdso.so');
  writeFileSync(dump, image);
  files = new ProcessFiles({ debugDirectories: [] });
  const answer = await files.vdsoUnwindTable();
  if (!answer) throw new Error('the reader found no CFI in the vDSO');
  vdso = answer;
});

afterAll(() => {
  files.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('the vDSO unwind table (vdso_unwind_table)', () => {
  it('is the table of the image this process maps: same bytes, build ID and segments', () => {
    expect(vdso.imageBytes).toBeGreaterThan(0);
    expect(vdso.imageBytes).toBeLessThanOrEqual(image.length);
    expect(vdso.imageHash).toBe(fnv1a64(image.subarray(0, vdso.imageBytes)));
    const buildId = /Build ID: ([0-9a-f]+)/.exec(readelf(['-n', dump]))?.[1];
    expect(vdso.buildId).toBe(buildId);
    const loads = readelf(['-lW', dump])
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[0] === 'LOAD')
      .map((f) => [Number(f[1]), Number(f[2]), Number(f[4])]);
    expect(vdso.segments).toEqual(loads);
    expect(unwindRowsProblem(vdso.rows)).toBeUndefined();
    expect(vdso.stats.sources).toBe('eh_frame');
  });

  it('says what readelf says at every row of the vDSO', () => {
    const report = compareWithReadelf(new TableRows(vdso.rows, vdso.base), readelfFrames(dump));
    expect(report.fdes).toBeGreaterThan(3);
    expect(report.mismatches).toEqual([]);
    expect([...report.inexpressible.values()].reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('covers __vdso_clock_gettime and the other entry points with a rule at every address', () => {
    const rows = new TableRows(vdso.rows, vdso.base);
    const symbols = readelf(['--dyn-syms', '-W', dump])
      .split('\n')
      .map((l) => /^\s*\d+: ([0-9a-f]+)\s+(\d+)\s+FUNC\s+\w+\s+\w+\s+\d+ (\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[3].replace(/@.*/, ''), address: parseInt(m[1], 16), size: Number(m[2]) }));
    const names = symbols.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['__vdso_clock_gettime', '__vdso_gettimeofday', '__vdso_time', '__vdso_getcpu', '__vdso_clock_getres']));
    for (const symbol of symbols.filter((s) => s.name.startsWith('__vdso_') && s.size > 0)) {
      // Entered by a call: the CFA is RSP + 8, the return address below it, RBP untouched.
      expect(rows.at(symbol.address), symbol.name).toEqual({ type: 1, aux: 0, cfaOffset: 8 });
      for (let address = symbol.address; address < symbol.address + symbol.size; address++) {
        const rule = rows.at(address);
        if (rule?.type === 0) throw new Error(`${symbol.name}+${address - symbol.address} has no rule`);
      }
    }
  });

  it('is shared by every [vdso] mapping through UnwindTables, built once', async () => {
    const tables = new UnwindTables({ files });
    const { process } = hostFile(dump);
    const vdsoMapping: ExecutableMapping = { start: 0x7fff0000, end: 0x7fff2000, offset: 0, path: '[vdso]', devMajor: 0, devMinor: 0, inode: 0, cacheKey: '' };
    const [a, b] = await Promise.all([tables.vdsoTable(), tables.tableFor(process, vdsoMapping)]);
    expect(a).toBeDefined();
    expect(b).toBe(a);
    expect(a?.key).toBe(`vdso:${vdso.buildId ?? vdso.imageHash}`);
    expect(a?.rows.equals(vdso.rows)).toBe(true);
    expect(tables.status()).toMatchObject({ built: 1, shared: 1, tables_in_memory: 1 });
  });
});
