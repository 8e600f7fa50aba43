import { readFileSync, writeFileSync } from 'node:fs';

/** One section header of an ELF64 little-endian file, and where it sits in the file. */
export interface SectionHeader {
  name: string;
  /** Offset of the header itself (to patch it). */
  headerOffset: number;
  type: number;
  offset: number;
  size: number;
}

/** The section headers of an ELF64 little-endian file, named through .shstrtab. */
export function sectionHeaders(bytes: Buffer): SectionHeader[] {
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not an ELF64 little-endian file');
  const shoff = Number(bytes.readBigUInt64LE(0x28));
  const shentsize = bytes.readUInt16LE(0x3a);
  const shnum = bytes.readUInt16LE(0x3c);
  const shstrndx = bytes.readUInt16LE(0x3e);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return { headerOffset: at, nameOffset: bytes.readUInt32LE(at), type: bytes.readUInt32LE(at + 4), offset: Number(bytes.readBigUInt64LE(at + 24)), size: Number(bytes.readBigUInt64LE(at + 32)) };
  });
  const strtab = raw[shstrndx];
  return raw.map((s) => {
    const start = strtab.offset + s.nameOffset;
    const end = bytes.indexOf(0, start);
    return { name: bytes.toString('latin1', start, end), headerOffset: s.headerOffset, type: s.type, offset: s.offset, size: s.size };
  });
}

/** Rewrites fields of the named section's header in `path` (sh_offset, sh_size). */
export function patchSection(path: string, name: string, fields: { offset?: bigint; size?: bigint }): void {
  const bytes = readFileSync(path);
  const section = sectionHeaders(bytes).find((s) => s.name === name);
  if (!section) throw new Error(`${path} has no ${name} section`);
  if (fields.offset !== undefined) bytes.writeBigUInt64LE(fields.offset, section.headerOffset + 24);
  if (fields.size !== undefined) bytes.writeBigUInt64LE(fields.size, section.headerOffset + 32);
  writeFileSync(path, bytes);
}

/** Overwrites the named section's contents in `path` with bytes from a fixed-seed generator. */
export function scrambleSection(path: string, name: string, seed = 42): void {
  const bytes = readFileSync(path);
  const section = sectionHeaders(bytes).find((s) => s.name === name);
  if (!section) throw new Error(`${path} has no ${name} section`);
  let state = seed >>> 0;
  for (let i = 0; i < section.size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // a linear congruential generator
    bytes[section.offset + i] = state >>> 24;
  }
  writeFileSync(path, bytes);
}
