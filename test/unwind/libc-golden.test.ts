// Golden unwind table of Debian's libc: what tail2-reader compiles (elfutils' CFI reader, then
// native/reader/unwind-table.cc) checked row by row against what binutils' readelf reads in the same
// file's .eh_frame — two implementations of the format, so agreement is not agreement with itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwindRowsProblem } from '../../daemon/model/unwind-table.js';
import { ProcessFiles, type ReaderUnwindTable } from '../../daemon/symbols/process-files.js';
import { compareWithReadelf, readelf, readelfFrames, TableRows, type GoldenReport } from '../helpers/cfi-golden.js';
import { hostFile } from '../helpers/host-file.js';

const libc = '/lib/x86_64-linux-gnu/libc.so.6';
let files: ProcessFiles;
let table: ReaderUnwindTable;
let report: GoldenReport;

beforeAll(async () => {
  // No debug directories: the table is .eh_frame's alone, what readelf reads (Debian's libc6-dbg
  // has no .debug_frame either).
  files = new ProcessFiles({ debugDirectories: [] });
  const { process, mapping } = hostFile(libc);
  const answer = await files.unwindTable(process, mapping);
  if (!answer) throw new Error(`${libc} has no CFI according to the reader`);
  table = answer;
  report = compareWithReadelf(new TableRows(table.rows, table.base), readelfFrames(libc));
});

afterAll(() => files.close());

describe("Debian's libc against readelf --debug-dump=frames-interp", () => {
  it('is a valid table: sorted, no two rows at one address, rule types in range', () => {
    expect(table.stats.sources).toBe('eh_frame');
    expect(unwindRowsProblem(table.rows)).toBeUndefined();
    expect(table.rows.length).toBe(table.stats.rows * 8);
    // Merged: no two neighbours say the same thing.
    const rows = new TableRows(table.rows, table.base);
    const same = rows.rules.filter((r, i) => i > 0 && r.type === rows.rules[i - 1].type && r.aux === rows.rules[i - 1].aux && r.cfaOffset === rows.rules[i - 1].cfaOffset);
    expect(same).toEqual([]);
  });

  it('says what readelf says at every row of every FDE, and NONE where the format cannot say it', () => {
    const fdes = readelf(['--debug-dump=frames'], libc).match(/ FDE cie=/g)?.length ?? 0;
    // Every FDE is compared (none of libc's overlap another).
    expect(report.fdes).toBe(fdes);
    expect(report.rows).toBeGreaterThan(20_000);
    expect(report.mismatches.slice(0, 20)).toEqual([]);
    expect(report.gapsChecked).toBeGreaterThan(0);
    // The few rules the format leaves to the frame pointer: setjmp/longjmp-style code keeping the
    // return address in a register. Few, and counted by the reader too.
    const inexpressible = [...report.inexpressible.values()].reduce((a, b) => a + b, 0);
    console.log(`libc: ${report.fdes} FDEs, ${report.rows} readelf rows, ${table.stats.rows} table rows, ${inexpressible} inexpressible:`, Object.fromEntries(report.inexpressible));
    expect(inexpressible).toBeLessThan(report.rows / 500);
    expect(table.stats.no_rule_rows).toBeGreaterThanOrEqual(report.gapsChecked > 0 ? 1 : 0);
  });

  it('has the forms libc needs: PLT stubs, the signal trampoline, process and thread roots', () => {
    expect(table.stats.plt_rows).toBeGreaterThanOrEqual(1);
    expect(table.stats.signal_rows).toBe(1);
    expect(table.stats.end_rows).toBeGreaterThanOrEqual(1);
    const rows = new TableRows(table.rows, table.base);
    // The signal frame's FDE (its CIE's augmentation has "S") covers __restore_rt, the rt_sigreturn
    // trampoline, whose address libc6-dbg's symbol table gives.
    const entries = readelfFrames(libc);
    const signal = [...entries.values()].filter((e) => e.kind === 'FDE' && entries.get(e.cie)?.augmentation.includes('S'));
    expect(signal).toHaveLength(1);
    const id = /Build ID: ([0-9a-f]+)/.exec(readelf(['-n', libc]))?.[1] ?? '';
    const debugFile = `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
    const restore = /^\s*\d+: ([0-9a-f]+)\s+\d+\s+FUNC\s+LOCAL\s+DEFAULT\s+\d+ __restore_rt$/m.exec(readelf(['-sW', debugFile]));
    expect(restore).not.toBeNull();
    const address = parseInt(restore?.[1] ?? '0', 16);
    expect(address).toBeGreaterThanOrEqual(signal[0].lo);
    expect(address).toBeLessThan(signal[0].hi);
    expect(rows.at(address)?.type).toBe(6);
  });
});
