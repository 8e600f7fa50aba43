// The rules binutils' readelf reads in a file's .eh_frame, and a check of an unwind table
// (bpf/unwind.h rows) against them. readelf is an implementation of the DWARF CFI format
// independent of elfutils, which tail2-reader uses: where both agree row by row, the table says
// what the file says.
import { spawnSync } from 'node:child_process';

/** One row of `readelf --debug-dump=frames-interp`: the CFA rule and each register's, by column name. */
export interface ReadelfRow {
  loc: number;
  cfa: string;
  regs: Map<string, string>;
}

/** A CIE or FDE, with what `--debug-dump=frames` shows of its expressions (readelf-interp prints them as `exp`). */
export interface ReadelfEntry {
  offset: number;
  kind: 'CIE' | 'FDE';
  /** CIEs: the augmentation string ("zR", "zRS" for signal frames). */
  augmentation: string;
  /** FDEs: the CIE's offset and the address range. */
  cie: number;
  lo: number;
  hi: number;
  rows: ReadelfRow[];
  /** DW_CFA_def_cfa_expression operands, as readelf prints them. */
  cfaExpressions: string[];
  /** DW_CFA_expression operands by register name (rbp, rip, …). */
  registerExpressions: Map<string, string[]>;
  /** Registers set DW_CFA_undefined (readelf-interp prints "u" for those and for registers not yet mentioned). */
  undefinedRegisters: Set<string>;
}

/**
 * readelf's output. It exits 1 after printing everything when it also complained about the file
 * ("Unable to find program interpreter name" on libc): its answer is the output all the same.
 */
export function readelf(args: string[], file?: string): string {
  const run = spawnSync('readelf', file === undefined ? args : [...args, file], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.error) throw run.error;
  if (run.signal || run.stdout.length === 0) throw new Error(`readelf ${args.join(' ')} ${file ?? ''} failed: ${run.stderr}`);
  return run.stdout;
}

const ENTRY = /^([0-9a-f]{8,16}) [0-9a-f]+ [0-9a-f]+ (?:CIE "([^"]*)"|FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+))/;
const SECTION = /^Contents of the (\S+) section/;

/** The entries of the file's `.eh_frame` (or `section`), keyed by their offset in it. */
export function readelfFrames(file: string, section = '.eh_frame'): Map<number, ReadelfEntry> {
  const entries = new Map<number, ReadelfEntry>();
  let inSection = false;
  let current: ReadelfEntry | undefined;
  let columns: string[] = [];
  for (const line of readelf(['--debug-dump=frames-interp'], file).split('\n')) {
    const sectionMatch = SECTION.exec(line);
    if (sectionMatch) {
      inSection = sectionMatch[1] === section;
      current = undefined;
      continue;
    }
    if (!inSection) continue;
    const entry = ENTRY.exec(line);
    if (entry) {
      current = {
        offset: parseInt(entry[1], 16),
        kind: entry[2] !== undefined ? 'CIE' : 'FDE',
        augmentation: entry[2] ?? '',
        cie: entry[3] !== undefined ? parseInt(entry[3], 16) : -1,
        lo: entry[4] !== undefined ? parseInt(entry[4], 16) : 0,
        hi: entry[5] !== undefined ? parseInt(entry[5], 16) : 0,
        rows: [],
        cfaExpressions: [],
        registerExpressions: new Map(),
        undefinedRegisters: new Set(),
      };
      entries.set(current.offset, current);
      columns = [];
      continue;
    }
    if (!current) continue;
    const header = /^\s+LOC\s+CFA\s*(.*)$/.exec(line);
    if (header) {
      columns = header[1].trim().split(/\s+/).filter(Boolean);
      continue;
    }
    const row = /^([0-9a-f]{16}) +(\S+)(.*)$/.exec(line);
    if (row) {
      // A register rule "r10 (r10)" is one value with a blank in it.
      const values: string[] = [];
      for (const token of row[3].trim().split(/\s+/).filter(Boolean)) {
        if (/^\(.*\)$/.test(token) && values.length > 0) values[values.length - 1] += ` ${token}`;
        else values.push(token);
      }
      current.rows.push({ loc: parseInt(row[1], 16), cfa: row[2], regs: new Map(columns.map((name, i) => [name, values[i] ?? 'u'])) });
    }
  }
  // The raw instructions, for what the interpreted table only calls "exp".
  inSection = false;
  current = undefined;
  for (const line of readelf(['--debug-dump=frames'], file).split('\n')) {
    const sectionMatch = SECTION.exec(line);
    if (sectionMatch) {
      inSection = sectionMatch[1] === section;
      current = undefined;
      continue;
    }
    if (!inSection) continue;
    const entry = /^([0-9a-f]{8,16}) [0-9a-f]+ [0-9a-f]+ (CIE|FDE)/.exec(line);
    if (entry) {
      current = entries.get(parseInt(entry[1], 16));
      continue;
    }
    if (!current) continue;
    const cfa = /^\s+DW_CFA_def_cfa_expression \((.*)\)$/.exec(line);
    if (cfa) current.cfaExpressions.push(cfa[1]);
    const reg = /^\s+DW_CFA_expression: r\d+ \((\w+)\) \((.*)\)$/.exec(line);
    if (reg) current.registerExpressions.set(reg[1], [...(current.registerExpressions.get(reg[1]) ?? []), reg[2]]);
    const undef = /^\s+DW_CFA_undefined: r\d+ \((\w+)\)$/.exec(line);
    if (undef) current.undefinedRegisters.add(undef[1]);
  }
  return entries;
}

// bpf/unwind.h
const CFA = { NONE: 0, RSP: 1, RBP: 2, DEREF_RSP: 3, DEREF_RBP: 4, PLT: 5, SIGNAL: 6, END: 7 } as const;
const RBP = { SAME: 0, CFA: 1, RBP: 2, UNDEF: 3 } as const;
const SIGFRAME = { rbp: 120, rsp: 160, rip: 168 };

/** A row's rule as bpf/unwind.h encodes it. */
export interface RowRule {
  type: number;
  aux: number;
  cfaOffset: number;
}

/** What the table must say at one readelf row: one of `rules`, or NONE (`none` names why). */
type Expected = { rules: RowRule[] } | { none: string };

const none = (why: string): Expected => ({ none: why });
const fitsS16 = (v: number) => v >= -32768 && v <= 32767;

/** The CFA rules an `exp` CFA may be: each distinct expression the entry (and its CIE) defines. */
function cfaFromExpression(expression: string): { type: number; offset: number; addendWords: number } | undefined {
  const plt = /^DW_OP_breg7 \(rsp\): 8; DW_OP_breg16 \(rip\): 0; DW_OP_lit15; DW_OP_and; DW_OP_lit(\d+); DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus$/.exec(expression);
  if (plt) return { type: CFA.PLT, offset: Number(plt[1]), addendWords: 0 };
  const deref = /^DW_OP_breg([67]) \((rbp|rsp)\): (-?\d+); DW_OP_deref(?:; DW_OP_plus_uconst: (\d+))?$/.exec(expression);
  if (deref) {
    const addend = Number(deref[4] ?? 0);
    if (addend % 8 !== 0 || addend > 56) return undefined;
    return { type: deref[2] === 'rsp' ? CFA.DEREF_RSP : CFA.DEREF_RBP, offset: Number(deref[3]), addendWords: addend / 8 };
  }
  return undefined;
}

function expected(row: ReadelfRow, fde: ReadelfEntry, cie: ReadelfEntry | undefined): Expected {
  const reg = (name: string) => row.regs.get(name) ?? 'u';
  const expressions = (name: string) => [...(cie?.registerExpressions.get(name) ?? []), ...(fde.registerExpressions.get(name) ?? [])];
  const undefinedHere = (name: string) => Boolean(cie?.undefinedRegisters.has(name) || fde.undefinedRegisters.has(name));
  const ra = reg('ra');
  if (ra === 'u') return undefinedHere('rip') ? { rules: [{ type: CFA.END, aux: 0, cfaOffset: 0 }] } : none('return address unknown');
  if (cie?.augmentation.includes('S')) {
    // The rt_sigreturn trampoline: everything read from the ucontext at RSP.
    const cfaExpressions = [...(cie?.cfaExpressions ?? []), ...fde.cfaExpressions];
    const ok =
      row.cfa === 'exp' &&
      cfaExpressions.length === 1 &&
      cfaExpressions[0] === `DW_OP_breg7 (rsp): ${SIGFRAME.rsp}; DW_OP_deref` &&
      expressions('rip').join() === `DW_OP_breg7 (rsp): ${SIGFRAME.rip}` &&
      expressions('rbp').join() === `DW_OP_breg7 (rsp): ${SIGFRAME.rbp}`;
    return ok ? { rules: [{ type: CFA.SIGNAL, aux: 0, cfaOffset: 0 }] } : none('signal frame of another layout');
  }
  if (ra !== 'c-8') return none(`return address ${ra}`);
  if (reg('rsp') !== 'u') return none(`rsp ${reg('rsp')}`);

  // The CFA: every form the row may be in.
  const cfas: Array<{ type: number; offset: number; addendWords: number }> = [];
  const simple = /^(rsp|rbp)([+-]\d+)$/.exec(row.cfa);
  if (simple) {
    cfas.push({ type: simple[1] === 'rsp' ? CFA.RSP : CFA.RBP, offset: Number(simple[2]), addendWords: 0 });
  } else if (row.cfa === 'exp') {
    const all = [...new Set([...(cie?.cfaExpressions ?? []), ...fde.cfaExpressions])];
    for (const expression of all) {
      const form = cfaFromExpression(expression);
      if (!form) return none(`CFA expression ${expression}`);
      cfas.push(form);
    }
    if (cfas.length === 0) return none('CFA expression not found');
  } else {
    return none(`CFA ${row.cfa}`);
  }

  // The caller's RBP.
  const rbp = reg('rbp');
  const rbps: Array<{ type: number; words: number }> = [];
  if (rbp === 'u') {
    rbps.push({ type: RBP.SAME, words: 0 });
    if (undefinedHere('rbp')) rbps.push({ type: RBP.UNDEF, words: 0 });
  } else if (rbp === 's') {
    rbps.push({ type: RBP.SAME, words: 0 });
  } else if (/^c[+-]\d+$/.test(rbp)) {
    const offset = Number(rbp.slice(1));
    if (offset % 8 !== 0) return none(`rbp ${rbp}`);
    rbps.push({ type: RBP.CFA, words: offset / 8 });
  } else if (rbp === 'exp') {
    for (const expression of new Set(expressions('rbp'))) {
      const at = /^DW_OP_breg6 \(rbp\): (-?\d+)$/.exec(expression);
      if (!at || Number(at[1]) % 8 !== 0) return none(`rbp expression ${expression}`);
      rbps.push({ type: RBP.RBP, words: Number(at[1]) / 8 });
    }
  } else {
    return none(`rbp ${rbp}`);
  }

  const rules: RowRule[] = [];
  for (const cfa of cfas) {
    if (!fitsS16(cfa.offset)) return none(`CFA offset ${cfa.offset} out of range`);
    for (const r of rbps) {
      const deref = cfa.type === CFA.DEREF_RSP || cfa.type === CFA.DEREF_RBP;
      let aux = r.words;
      if (deref) {
        if (aux < -16 || aux > 15) return none(`rbp offset ${aux} out of range`);
        aux = (((cfa.addendWords << 5) | (aux & 0x1f)) << 24) >> 24;
      } else if (aux < -128 || aux > 127) {
        return none(`rbp offset ${aux} out of range`);
      }
      rules.push({ type: cfa.type | (r.type << 4), aux, cfaOffset: cfa.offset });
    }
  }
  return { rules };
}

/** A table's rows, decoded for lookups. */
export class TableRows {
  readonly pcs: Uint32Array;
  readonly rules: RowRule[];

  constructor(
    rows: Buffer,
    readonly base: number,
  ) {
    const n = rows.length / 8;
    this.pcs = new Uint32Array(n);
    this.rules = [];
    for (let i = 0; i < n; i++) {
      this.pcs[i] = rows.readUInt32LE(i * 8);
      this.rules.push({ type: rows.readUInt8(i * 8 + 4), aux: rows.readInt8(i * 8 + 5), cfaOffset: rows.readInt16LE(i * 8 + 6) });
    }
  }

  /** The rule that holds at ELF address `address`, or undefined before the first row. */
  at(address: number): RowRule | undefined {
    const pc = address - this.base;
    if (pc < 0) return undefined;
    let low = 0;
    let high = this.pcs.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.pcs[mid] <= pc) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found >= 0 ? this.rules[found] : undefined;
  }
}

export interface GoldenReport {
  fdes: number;
  /** readelf rows compared. */
  rows: number;
  /** Rows readelf gives a rule the format cannot express, and the table says NONE there: by why. */
  inexpressible: Map<string, number>;
  /** Rows where the table says something else than readelf (should be none), with what each said. */
  mismatches: string[];
  /** FDE ends no other FDE starts at, where the table must say NONE. */
  gapsChecked: number;
}

const hex = (n: number) => `0x${n.toString(16)}`;
const ruleText = (r: RowRule | undefined) => (r ? `type 0x${r.type.toString(16)} aux ${r.aux} offset ${r.cfaOffset}` : 'no row');

/** Checks `table` at every row readelf gives for `entries` (FDEs overlapping another are skipped). */
export function compareWithReadelf(table: TableRows, entries: Map<number, ReadelfEntry>): GoldenReport {
  const report: GoldenReport = { fdes: 0, rows: 0, inexpressible: new Map(), mismatches: [], gapsChecked: 0 };
  const fdes = [...entries.values()].filter((e) => e.kind === 'FDE' && e.hi > e.lo).sort((a, b) => a.lo - b.lo);
  const starts = new Set(fdes.map((f) => f.lo));
  for (let i = 0; i < fdes.length; i++) {
    const fde = fdes[i];
    const overlaps = (i > 0 && fdes[i - 1].hi > fde.lo) || (i + 1 < fdes.length && fdes[i + 1].lo < fde.hi);
    if (overlaps) continue;
    report.fdes++;
    const cie = entries.get(fde.cie);
    // An FDE without instructions is its CIE's initial rules from its first address.
    const rows = fde.rows.length > 0 ? fde.rows : (cie?.rows ?? []).slice(0, 1).map((r) => ({ ...r, loc: fde.lo }));
    for (const row of rows) {
      if (row.loc < fde.lo || row.loc >= fde.hi) continue;
      report.rows++;
      const want = expected(row, fde, cie);
      const got = table.at(row.loc);
      if ('none' in want) {
        if (got?.type === 0) report.inexpressible.set(want.none, (report.inexpressible.get(want.none) ?? 0) + 1);
        else report.mismatches.push(`${hex(row.loc)} (FDE ${hex(fde.lo)}..${hex(fde.hi)}): readelf says ${row.cfa} ${[...row.regs].map(([k, v]) => `${k}=${v}`).join(' ')} (${want.none}), which the format cannot express; the table has ${ruleText(got)}`);
      } else if (!got || !want.rules.some((r) => r.type === got.type && r.aux === got.aux && r.cfaOffset === got.cfaOffset)) {
        report.mismatches.push(`${hex(row.loc)} (FDE ${hex(fde.lo)}..${hex(fde.hi)}): readelf says ${row.cfa} ${[...row.regs].map(([k, v]) => `${k}=${v}`).join(' ')}, expected ${want.rules.map(ruleText).join(' or ')}; the table has ${ruleText(got)}`);
      }
    }
    if (!starts.has(fde.hi)) {
      report.gapsChecked++;
      const got = table.at(fde.hi);
      if (got?.type !== 0) report.mismatches.push(`${hex(fde.hi)}: the end of FDE ${hex(fde.lo)}..${hex(fde.hi)}, where no FDE starts, has ${ruleText(got)} instead of NONE`);
    }
  }
  return report;
}
