// Corrupt and fuzzed CFI through tail2-reader's unwind_table: copies of a C++ fixture (CIEs with
// personality and LSDA) and of Debian's libc with their .eh_frame / .eh_frame_hdr damaged in
// deterministic ways — random byte flips, truncated CIEs, huge lengths, FDEs pointing at each
// other or at nothing, ranges covering everything, instruction streams of garbage or built to be
// slow. Every answer is a valid table or a clear error; the reader never crashes or hangs. A crash
// that did happen would be contained: the last test crashes a reader on purpose.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unwindRowsProblem } from '../../daemon/model/unwind-table.js';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import { ReaderError } from '../../daemon/symbols/reader-process.js';
import { sectionHeaders, type SectionHeader } from '../helpers/elf-patch.js';
import { hostFile } from '../helpers/host-file.js';

const libc = '/lib/x86_64-linux-gnu/libc.so.6';
const fixtureSource = fileURLToPath(new URL('../fixtures/symbolize/inlined.cc', import.meta.url));
/** What a damaged file may answer besides a table: CFI refused as corrupt, or an ELF file that no longer reads. */
const CLEAR_ERRORS = new Set(['EBADCFI', 'EBADELF', 'ENOTELF']);

let tmp: string;
let fixture: string;
let files: ProcessFiles;

/** xorshift32: the same damage on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

interface CfiEntry {
  /** Offset in .eh_frame. */
  at: number;
  length: number;
  cie: boolean;
}

/** The entries of an .eh_frame section's bytes (32-bit lengths, as gcc and ld write them). */
function entries(section: Buffer): CfiEntry[] {
  const found: CfiEntry[] = [];
  for (let at = 0; at + 8 <= section.length; ) {
    const length = section.readUInt32LE(at);
    if (length === 0 || length === 0xffffffff || at + 4 + length > section.length) break;
    found.push({ at, length, cie: section.readUInt32LE(at + 4) === 0 });
    at += 4 + length;
  }
  return found;
}

type Mutation = (section: { ehFrame: Buffer; hdr: Buffer }, rand: () => number) => void;

const pick = <T>(items: T[], rand: () => number): T => items[rand() % items.length];
const fdes = (s: Buffer) => entries(s).filter((e) => !e.cie);
const cies = (s: Buffer) => entries(s).filter((e) => e.cie);

/** Each mutation, by name, applied to the sections' bytes in place. */
const MUTATIONS: Record<string, Mutation> = {
  'flip 1 byte of .eh_frame': ({ ehFrame }, r) => void (ehFrame[r() % ehFrame.length] ^= 1 << r() % 8),
  'flip 16 bytes of .eh_frame': ({ ehFrame }, r) => {
    for (let i = 0; i < 16; i++) ehFrame[r() % ehFrame.length] ^= 1 + (r() % 255);
  },
  'flip 256 bytes of .eh_frame': ({ ehFrame }, r) => {
    for (let i = 0; i < 256; i++) ehFrame[r() % ehFrame.length] = r() & 0xff;
  },
  'flip 8 bytes of .eh_frame_hdr': ({ hdr }, r) => {
    for (let i = 0; i < 8; i++) hdr[r() % hdr.length] ^= 1 + (r() % 255);
  },
  'garbage .eh_frame_hdr search table': ({ hdr }, r) => {
    for (let i = 12; i + 4 <= hdr.length; i += 4) hdr.writeUInt32LE(r(), i);
  },
  'sorted search table pointing into the middle of entries': ({ hdr }, r) => {
    const base = r() % 1024;
    for (let i = 12, n = 0; i + 8 <= hdr.length; i += 8, n++) {
      hdr.writeInt32LE(n * 16, i);
      hdr.writeInt32LE(base + (r() % 64), i + 4);
    }
  },
  'search table of a billion FDEs': ({ hdr }) => void hdr.writeUInt32LE(0x3fffffff, 8),
  'zeroed .eh_frame_hdr': ({ hdr }) => void hdr.fill(0),
  'truncated first CIE': ({ ehFrame }, r) => void ehFrame.writeUInt32LE(pick([1, 4, 5, 8, 9, 10, 12], r), cies(ehFrame)[0].at),
  'CIE with a garbage augmentation string': ({ ehFrame }, r) => {
    const cie = cies(ehFrame)[0];
    for (let i = 9; i < 9 + 6 && i < cie.length; i++) ehFrame[cie.at + i] = 0x41 + (r() % 26);
  },
  'CIE with a huge augmentation length': ({ ehFrame }) => {
    const cie = cies(ehFrame)[0];
    // "zR" CIE: version, "zR\0", code align (1 byte), data align (1), ra (1), augmentation length.
    const augmentationLength = cie.at + 8 + 1 + 3 + 3;
    ehFrame[augmentationLength] = 0xff;
    ehFrame[augmentationLength + 1] = 0xff;
  },
  'entry length past the end of the section': ({ ehFrame }, r) => void ehFrame.writeUInt32LE(0xfffffff0, pick(entries(ehFrame), r).at),
  '64-bit length escape with a huge length': ({ ehFrame }, r) => {
    const entry = pick(entries(ehFrame), r);
    ehFrame.writeUInt32LE(0xffffffff, entry.at);
    ehFrame.writeUInt32LE(0xfffffff0, entry.at + 4);
  },
  'zero-length entry in the middle (an early terminator)': ({ ehFrame }, r) => void ehFrame.writeUInt32LE(0, pick(entries(ehFrame), r).at),
  'FDE whose CIE pointer points at the FDE before it': ({ ehFrame }) => {
    const list = fdes(ehFrame);
    for (let i = 1; i < list.length; i++) ehFrame.writeUInt32LE(list[i].at + 4 - list[i - 1].at, list[i].at + 4);
  },
  'FDE whose CIE pointer points at itself': ({ ehFrame }) => {
    for (const fde of fdes(ehFrame)) ehFrame.writeUInt32LE(4, fde.at + 4);
  },
  'FDE whose CIE pointer points before the section': ({ ehFrame }, r) => {
    for (const fde of fdes(ehFrame)) ehFrame.writeUInt32LE(fde.at + 8 + (r() % 4096), fde.at + 4);
  },
  'every FDE covering 2 GiB': ({ ehFrame }) => {
    for (const fde of fdes(ehFrame)) ehFrame.writeUInt32LE(0x7fffffff, fde.at + 12);
  },
  'every FDE at the same address': ({ ehFrame }) => {
    // pc_begin is pc-relative: the same target from each field's own place.
    const target = 0x1000;
    for (const fde of fdes(ehFrame)) ehFrame.writeInt32LE(target - (fde.at + 8), fde.at + 8);
  },
  'FDE ranges of zero and of 4 GiB': ({ ehFrame }, r) => {
    for (const fde of fdes(ehFrame)) ehFrame.writeUInt32LE(pick([0, 0xffffffff], r), fde.at + 12);
  },
  'a rule for register 100,000,000 in every FDE': ({ ehFrame }) => {
    // DW_CFA_offset_extended r100000000 (ULEB 0x80 0xc2 0xd7 0x2f), offset 1: libdw would size the
    // frame for that many registers.
    for (const fde of fdes(ehFrame)) if (fde.length >= 20) Buffer.from([0x05, 0x80, 0xc2, 0xd7, 0x2f, 0x01]).copy(ehFrame, fde.at + 17);
  },
  'garbage instructions in every FDE': ({ ehFrame }, r) => {
    for (const fde of fdes(ehFrame)) for (let i = fde.at + 17; i < fde.at + 4 + fde.length; i++) ehFrame[i] = r() & 0xff;
  },
  'remember_state without restore in every FDE': ({ ehFrame }) => {
    for (const fde of fdes(ehFrame)) ehFrame.fill(0x0a, fde.at + 17, fde.at + 4 + fde.length);
  },
  'restore_state without remember in every FDE': ({ ehFrame }) => {
    for (const fde of fdes(ehFrame)) ehFrame.fill(0x0b, fde.at + 17, fde.at + 4 + fde.length);
  },
  'a row per byte in every FDE (advance_loc 1, def_cfa_offset)': ({ ehFrame }) => {
    for (const fde of fdes(ehFrame)) {
      for (let i = fde.at + 17; i + 3 <= fde.at + 4 + fde.length; i += 3) {
        ehFrame[i] = 0x41; // DW_CFA_advance_loc 1
        ehFrame[i + 1] = 0x0e; // DW_CFA_def_cfa_offset
        ehFrame[i + 2] = 0x10 + (i % 0x60);
      }
    }
  },
  'the whole .eh_frame scrambled': ({ ehFrame }, r) => {
    for (let i = 0; i < ehFrame.length; i++) ehFrame[i] = r() & 0xff;
  },
  'the whole .eh_frame shifted by one byte': ({ ehFrame }) => {
    ehFrame.copyWithin(1, 0, ehFrame.length - 1);
  },
};

/** A copy of `binary` with `mutation` applied to its .eh_frame and .eh_frame_hdr. */
function damaged(binary: string, name: string, mutation: Mutation, seed: number): string {
  const bytes = readFileSync(binary);
  const sections = sectionHeaders(bytes);
  const find = (n: string): SectionHeader => {
    const s = sections.find((x) => x.name === n);
    if (!s) throw new Error(`${binary} has no ${n}`);
    return s;
  };
  const eh = find('.eh_frame');
  const hdr = find('.eh_frame_hdr');
  mutation({ ehFrame: bytes.subarray(eh.offset, eh.offset + eh.size), hdr: bytes.subarray(hdr.offset, hdr.offset + hdr.size) }, random(seed));
  const to = path.join(tmp, `${path.basename(binary)}-${name.replace(/[^a-z0-9]+/gi, '-')}-${seed}`);
  writeFileSync(to, bytes);
  return to;
}

interface Outcome {
  file: string;
  result: 'table' | 'no-cfi' | string;
  rows: number;
}

async function compile(file: string): Promise<Outcome> {
  const { process, mapping } = hostFile(file);
  try {
    const table = await files.unwindTable(process, mapping);
    if (!table) return { file, result: 'no-cfi', rows: 0 };
    // ProcessFiles checked the rows (EBADTABLE otherwise); checked here again, independently.
    expect(unwindRowsProblem(table.rows), file).toBeUndefined();
    expect(table.rows.length, file).toBe(table.stats.rows * 8);
    return { file, result: 'table', rows: table.stats.rows };
  } catch (error) {
    if (!(error instanceof ReaderError)) throw error;
    return { file, result: error.code, rows: 0 };
  }
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-cfi-fuzz-'));
  fixture = path.join(tmp, 'inlined');
  execFileSync('g++', ['-O2', '-g', '-o', fixture, fixtureSource]);
  files = new ProcessFiles({ debugDirectories: [], symbolReaders: 1 });
});

afterAll(() => {
  files.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** What the outcomes were, for the log: `table 12, EBADCFI 3, …`. */
function tally(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  return [...counts].map(([result, n]) => `${result} ${n}`).join(', ');
}

function expectClear(outcomes: Outcome[]): void {
  const unclear = outcomes.filter((o) => o.result !== 'table' && o.result !== 'no-cfi' && !CLEAR_ERRORS.has(o.result));
  expect(unclear).toEqual([]);
  const readers = files.status().readers;
  expect(readers.reduce((n, r) => n + r.crashes + r.timeouts, 0)).toBe(0);
}

describe('corrupt CFI never crashes or hangs the reader', () => {
  it('a C++ fixture: every mutation, several seeds', async () => {
    const outcomes: Outcome[] = [];
    for (const [name, mutation] of Object.entries(MUTATIONS)) {
      const these: Outcome[] = [];
      for (const seed of [1, 2, 3, 4, 5]) these.push(await compile(damaged(fixture, name, mutation, seed)));
      console.log(`${name}: ${tally(these)}`);
      outcomes.push(...these);
    }
    expectClear(outcomes);
    // The damage did something: not every copy kept a whole table.
    const intact = await compile(fixture);
    expect(intact.result).toBe('table');
    expect(outcomes.some((o) => o.result !== 'table' || o.rows !== intact.rows)).toBe(true);
  });

  it('random flips at 200 seeds', async () => {
    const outcomes: Outcome[] = [];
    for (let seed = 100; seed < 300; seed++) outcomes.push(await compile(damaged(fixture, 'flips', MUTATIONS['flip 16 bytes of .eh_frame'], seed)));
    console.log(`16 random flips, 200 seeds: ${tally(outcomes)}`);
    expectClear(outcomes);
  });

  it("Debian's libc: every mutation once", async () => {
    const outcomes: Outcome[] = [];
    for (const [name, mutation] of Object.entries(MUTATIONS)) {
      const copy = damaged(libc, name, mutation, 7);
      outcomes.push(await compile(copy));
      rmSync(copy);
    }
    console.log(`libc, every mutation: ${tally(outcomes)}`);
    expectClear(outcomes);
  });

  it('an FDE whose lookups would take minutes gets the rows the work budget allows, and is counted', async () => {
    // One function of 200,000 CFI rows: libdw executes its program from the start for each row,
    // about 10^11 bytes of CFA program in all.
    const lines = ['.text', '.globl main', '.type main, @function', 'main:', '.cfi_startproc'];
    for (let i = 0; i < 100_000; i++) lines.push('push %rbx', '.cfi_adjust_cfa_offset 8', 'pop %rbx', '.cfi_adjust_cfa_offset -8');
    lines.push('xor %eax, %eax', 'ret', '.cfi_endproc', '.size main, .-main', '.section .note.GNU-stack,"",@progbits', '');
    const source = path.join(tmp, 'dense-cfi.s');
    writeFileSync(source, lines.join('\n'));
    const binary = path.join(tmp, 'dense-cfi');
    execFileSync('gcc', ['-o', binary, source]);
    const { process, mapping } = hostFile(binary);
    const table = await files.unwindTable(process, mapping);
    expect(table?.stats.work_limited_fdes).toBe(1);
    expect(table?.stats.rows).toBeGreaterThan(100);
    expect(table?.stats.rows).toBeLessThan(200_000);
    expect(unwindRowsProblem(table?.rows ?? Buffer.alloc(1))).toBeUndefined();
    expectClear([]);
  });

  it('a copy without CFI is no table, not a problem', async () => {
    const stripped = path.join(tmp, 'stripped');
    copyFileSync(fixture, stripped);
    execFileSync('objcopy', ['--remove-section', '.eh_frame', '--remove-section', '.eh_frame_hdr', '--remove-section', '.debug_frame', stripped]);
    expect((await compile(stripped)).result).toBe('no-cfi');
    expect(files.status().problems.counts.ENOCFI).toBeUndefined();
  });
});

describe('a reader that crashes on a file', () => {
  it('fails that request alone, records it, quarantines the file, and the next file gets a new reader', async () => {
    const own = new ProcessFiles({ debugDirectories: [], symbolReaders: 1 });
    try {
      const victim = hostFile(libc);
      const pending = own.unwindTable(victim.process, victim.mapping);
      // The reader that has the request dies as a crash in libdw would kill it.
      const pid = own.status().readers[1].pid;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid as number, 'SIGSEGV');
      await expect(pending).rejects.toMatchObject({ code: 'ECRASHED' });
      await expect(own.unwindTable(victim.process, victim.mapping)).rejects.toMatchObject({ code: 'EQUARANTINED' });
      const status = own.status();
      expect(status.problems.counts.ECRASHED).toBe(1);
      expect(status.problems.recent[0]).toMatchObject({ file: libc, code: 'ECRASHED' });
      expect(status.quarantined).toBe(1);
      const other = hostFile(fixture);
      const table = await own.unwindTable(other.process, other.mapping);
      expect(table?.stats.rows).toBeGreaterThan(0);
      expect(own.status().readers[1].pid).not.toBe(pid);
    } finally {
      own.close();
    }
  });
});
