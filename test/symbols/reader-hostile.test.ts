// Hostile and broken files through tail2-reader: self-referencing DWARF, corrupt and oversized
// sections, megabyte-long mangled names, files that shrink while the reader has them mapped, and
// a file that takes longer than its time budget. Each costs bounded time and memory, the frames
// fall back to [module+0xoffset], and the problem is counted.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import { patchSection, scrambleSection, sectionHeaders } from '../helpers/elf-patch.js';
import { hostFile } from '../helpers/host-file.js';

const hostileSources = fileURLToPath(new URL('../fixtures/hostile/', import.meta.url));
const inlinedSource = fileURLToPath(new URL('../fixtures/symbolize/inlined.cc', import.meta.url));
let tmp: string;
const opened: ProcessFiles[] = [];

function files(options: ConstructorParameters<typeof ProcessFiles>[0] = {}): ProcessFiles {
  const created = new ProcessFiles({ debugDirectories: [], ...options });
  opened.push(created);
  return created;
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8' });
}

/** File offset of a defined symbol (the fixtures are linked so that .text's offset is its vaddr's). */
function symbolOffset(bin: string, name: string): number {
  const line = run('nm', ['--defined-only', bin]).split('\n').find((l) => l.trim().endsWith(` ${name}`));
  if (!line) throw new Error(`${name} not in ${bin}`);
  const vaddr = BigInt(`0x${line.split(' ')[0]}`);
  for (const l of run('readelf', ['-lW', bin]).split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] !== 'LOAD') continue;
    const [offset, segVaddr, , filesz] = f.slice(1, 5).map((x) => BigInt(x));
    if (vaddr >= segVaddr && vaddr < segVaddr + filesz) return Number(vaddr - segVaddr + offset);
  }
  throw new Error(`${name} is in no PT_LOAD of ${bin}`);
}

function copy(bin: string, name: string): string {
  const to = path.join(tmp, name);
  copyFileSync(bin, to);
  return to;
}

let selfImport: string;
let inlined: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-hostile-'));
  selfImport = path.join(tmp, 'self-import');
  run('gcc', ['-o', selfImport, path.join(hostileSources, 'self-import.s')]);
  inlined = path.join(tmp, 'inlined');
  run('g++', ['-O2', '-g', '-o', inlined, inlinedSource]);
});

afterAll(() => {
  for (const reader of opened) reader.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('hostile DWARF and ELF', () => {
  it('walks a compile unit that imports itself once, and names the function', async () => {
    // Two DW_TAG_imported_unit children pointing at their own unit: a walk that re-enters imports
    // branches twice per level, 2^128 steps before its depth limit.
    expect(run('readelf', ['--debug-dump=info', selfImport])).toMatch(/DW_TAG_imported_unit[\s\S]*DW_TAG_imported_unit/);
    const reader = files();
    const { process, mapping } = hostFile(selfImport);
    const [stack] = await reader.symbolize(process, mapping, [symbolOffset(selfImport, 'spin') + 1]);
    expect(stack.at(-1)?.name).toBe('spin');
    expect(reader.status().readers.every((r) => r.timeouts === 0 && r.crashes === 0)).toBe(true);
  });

  it('survives sections that claim more bytes than the file has, and garbage DWARF', async () => {
    const huge = copy(inlined, 'huge-sections');
    patchSection(huge, '.debug_info', { size: 1n << 46n });
    patchSection(huge, '.symtab', { offset: 1n << 40n });
    const garbage = copy(inlined, 'garbage-dwarf');
    for (const name of ['.debug_info', '.debug_abbrev', '.debug_line']) scrambleSection(garbage, name);
    const reader = files();
    const offset = symbolOffset(inlined, 'main');
    for (const bin of [huge, garbage]) {
      const { process, mapping } = hostFile(bin);
      // Whatever is left is used (the dynamic symbol table, the intact parts), or nothing: no
      // crash, no hang, no allocation of the size a header claims.
      const answer = await reader.symbolize(process, mapping, [offset]).catch((error: { code: string }) => error.code);
      expect(answer === 'EBADELF' || Array.isArray(answer)).toBe(true);
    }
    expect(reader.status().readers.every((r) => r.timeouts === 0 && r.crashes === 0)).toBe(true);
  });

  it('cuts names of a megabyte to a few KiB, mangled or not', async () => {
    const long = `_ZN${'9abcdefghi'.repeat(20_000)}E`;
    const source = path.join(tmp, 'long-names.s');
    writeFileSync(
      source,
      ['.text', `.globl ${long}`, `.type ${long}, @function`, `${long}:`, 'nop', 'ret', `.size ${long}, .-${long}`, '.globl main', '.type main, @function', 'main:', 'ret', '.section .note.GNU-stack,"",@progbits', ''].join('\n'),
    );
    const bin = path.join(tmp, 'long-names');
    run('gcc', ['-o', bin, source]);
    const { process, mapping } = hostFile(bin);
    const [[frame]] = await files().symbolize(process, mapping, [symbolOffset(bin, long)]);
    expect(frame.name.length).toBeGreaterThan(100);
    expect(frame.name.length).toBeLessThanOrEqual(4096 + 3);
  });
});

describe('files that change under the reader', () => {
  it('goes on after a debug file is truncated while the reader has it mapped (SIGBUS absorbed)', async () => {
    const bin = copy(inlined, 'shrinking');
    run('objcopy', ['--only-keep-debug', 'shrinking', 'shrinking.debug'], tmp);
    run('objcopy', ['--strip-debug', '--add-gnu-debuglink=shrinking.debug', 'shrinking'], tmp);
    const debugFile = `${bin}.debug`;
    const reader = files({ symbolReaders: 1 });
    const { process, mapping } = hostFile(bin);
    const main = symbolOffset(inlined, 'main');
    const first = await reader.symbolize(process, mapping, [main]);
    expect(first[0].length).toBeGreaterThan(0);
    const readerPid = reader.status().readers[1].pid;
    // libdw mapped the debug file: after truncation its pages are gone, and touching them is SIGBUS.
    truncateSync(debugFile, 0);
    const faulted = await reader.symbolize(process, mapping, [main + 4, main + 8]).catch((error: { code: string }) => error.code);
    // The fault was absorbed (a zero page mapped over the vanished one) and the request reported.
    expect(faulted).toBe('ECHANGED');
    expect(reader.status().problems.counts.ECHANGED).toBe(1);
    const other = hostFile(selfImport);
    const after = await reader.symbolize(other.process, other.mapping, [symbolOffset(selfImport, 'spin')]);
    expect(after[0].at(-1)?.name).toBe('spin');
    // The same reader answered: it was not killed or restarted.
    expect(reader.status().readers[1]).toMatchObject({ pid: readerPid, crashes: 0, timeouts: 0 });
  });

  it('goes on after a binary it has open is truncated', async () => {
    const bin = copy(inlined, 'shrinking-binary');
    const reader = files({ symbolReaders: 1 });
    const { process, mapping } = hostFile(bin);
    const main = symbolOffset(inlined, 'main');
    await reader.symbolize(process, mapping, [main]);
    truncateSync(bin, 0);
    // The binary is read with pread, never mapped: what was read stays, and there is nothing to fault.
    const answer = await reader.symbolize(process, mapping, [main + 2]);
    expect(answer[0].at(-1)?.name).toBe('main');
    expect(reader.status().readers[1]).toMatchObject({ crashes: 0, timeouts: 0 });
  });
});

describe('the time budget', () => {
  it('stops a file that takes longer than its budget, counts it, and leaves it alone for a while', async () => {
    // libc with its DWARF takes tens of milliseconds to open; the budget here is one.
    const libc = '/usr/lib/x86_64-linux-gnu/libc.so.6';
    const reader = files({ fileTimeBudgetMs: 1, debugDirectories: ['/usr/lib/debug'] });
    const { process, mapping } = hostFile(libc);
    await expect(reader.symbolize(process, mapping, [0x28000, 0x30000, 0x40000])).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(reader.symbolize(process, mapping, [0x28000])).rejects.toMatchObject({ code: 'EQUARANTINED' });
    const status = reader.status();
    expect(status.problems.counts.ETIMEDOUT).toBe(1);
    expect(status.quarantined).toBe(1);
    expect(status.problems.recent[0]).toMatchObject({ file: libc, code: 'ETIMEDOUT' });
    expect(status.readers.reduce((n, r) => n + r.timeouts, 0)).toBe(1);
  });
});

describe('elf-patch helper', () => {
  it('finds the sections readelf lists', () => {
    const names = sectionHeaders(readFileSync(inlined)).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['.text', '.symtab', '.debug_info']));
    expect(statSync(inlined).size).toBeGreaterThan(0);
  });
});
