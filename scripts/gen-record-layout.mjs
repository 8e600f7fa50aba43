#!/usr/bin/env node
// Generates daemon/sampler/record-layout.generated.ts from bpf/sampler.h: the one source of the
// record the BPF sampler writes and the TypeScript decoder reads. Field offsets come from clang's
// own layout of the struct for the BPF target (-fdump-record-layouts), the constants from the
// header's #defines, so nothing is described twice by hand.
//
//   node scripts/gen-record-layout.mjs          rewrite the generated file
//   node scripts/gen-record-layout.mjs --check  exit 1 (printing what it should be) when it is not current
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --header FILE: check another header against the generated file (the drift test uses it).
const headerFlag = process.argv.indexOf('--header');
const header = headerFlag > 0 ? process.argv[headerFlag + 1] : join(root, 'bpf', 'sampler.h');
const target = join(root, 'daemon', 'sampler', 'record-layout.generated.ts');
const STRUCTS = ['tail2_sample'];

/** Bytes of one value of each type the header uses (arrays: of one element). */
const TYPE_BYTES = { __u8: 1, __u16: 2, __u32: 4, __u64: 8, __s8: 1, __s16: 2, __s32: 4, __s64: 8, char: 1 };

function clangLayouts() {
  const dir = mkdtempSync(join(tmpdir(), 'tail2-layout-'));
  try {
    const unit = join(dir, 'layout.c');
    writeFileSync(unit, ['#include <linux/types.h>', `#include "${header}"`, ...STRUCTS.map((s) => `struct ${s} *tail2_layout_${s};`), `int tail2_layout_sizes[] = { ${STRUCTS.map((s) => `sizeof(struct ${s})`).join(', ')} };`, ''].join('\n'));
    const triple = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim();
    return execFileSync('clang', ['-target', 'bpf', `-I/usr/include/${triple}`, '-Xclang', '-fdump-record-layouts', '-fsyntax-only', unit], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `{ name: { fields: [{ name, offset, bytes, type }], size } }` from clang's dump. */
function parseLayouts(dump) {
  const structs = {};
  let current;
  for (const line of dump.split('\n')) {
    const start = /^\s+0 \| struct (\w+)$/.exec(line);
    if (start) {
      current = { fields: [], size: 0 };
      structs[start[1]] = current;
      continue;
    }
    if (!current) continue;
    const field = /^\s+(\d+) \| {3}(\w+)(\[(\d*)\])? (\w+)$/.exec(line);
    if (field) {
      const [, offset, type, , count, name] = field;
      const each = TYPE_BYTES[type];
      if (each === undefined) throw new Error(`gen-record-layout: field ${name} has type ${type}, which the generator does not know`);
      current.fields.push({ name, offset: Number(offset), type: `${type}${field[3] ?? ''}`, bytes: count === undefined ? each : count === '' ? each : each * Number(count) });
      continue;
    }
    const size = /\[sizeof=(\d+), align=(\d+)/.exec(line);
    if (size) {
      current.size = Number(size[1]);
      current = undefined;
    }
  }
  return structs;
}

/** Every numeric `#define TAIL2_NAME value /* comment *\/` of the header. */
function parseDefines(text) {
  const defines = [];
  for (const line of text.split('\n')) {
    const match = /^#define (TAIL2_\w+)\s+(0x[0-9a-fA-F]+|\d+)\s*(?:\/\*\s*(.*?)\s*(?:\*\/)?)?$/.exec(line.trim());
    if (match) defines.push({ name: match[1], value: Number(match[2]), comment: match[3] ?? '' });
  }
  return defines;
}

function render() {
  const layouts = parseLayouts(clangLayouts());
  const defines = parseDefines(readFileSync(header, 'utf8'));
  const out = [
    '// Generated from bpf/sampler.h by scripts/gen-record-layout.mjs (`npm run gen:record-layout`): do not',
    '// edit. Offsets are clang\'s layout of the struct for the BPF target; test/sample-record-layout.test.ts',
    '// fails when this file is not what the header gives, and when the native addon\'s offsetof disagrees.',
    '',
  ];
  for (const name of STRUCTS) {
    const layout = layouts[name];
    if (!layout) throw new Error(`gen-record-layout: clang did not lay out struct ${name}`);
    const constName = `${name.replace(/^tail2_/, '').toUpperCase()}_FIELDS`;
    out.push(`/** struct ${name}: each field's byte offset and size (for a flexible array, one element's). */`);
    out.push(`export const ${constName} = {`);
    for (const f of layout.fields) out.push(`  ${f.name}: { offset: ${f.offset}, bytes: ${f.bytes} }, // ${f.type}`);
    out.push('} as const;', '');
    out.push(`/** sizeof(struct ${name}): the fixed part, before any flexible array. */`);
    out.push(`export const ${name.replace(/^tail2_/, '').toUpperCase()}_BYTES = ${layout.size};`, '');
  }
  out.push('// The #defines of bpf/sampler.h.');
  for (const d of defines) {
    if (d.comment) out.push(`/** ${d.comment.replace(/\*\//g, '* /')} */`);
    out.push(`export const ${d.name} = ${d.value};`);
  }
  out.push('');
  return out.join('\n');
}

const text = render();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: not current
  }
  if (current !== text) {
    process.stderr.write(`${target} is not what bpf/sampler.h gives: run \`npm run gen:record-layout\` and commit it.\n--- expected ---\n${text}`);
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
}
