import { describe, expect, it } from 'vitest';
import { StackTable } from '../daemon/profile/stack-table.js';

function words(...addresses: number[]): Uint32Array {
  const out = new Uint32Array(addresses.length * 2);
  addresses.forEach((address, i) => {
    out[i * 2] = address >>> 0;
    out[i * 2 + 1] = Math.floor(address / 2 ** 32);
  });
  return out;
}

describe('StackTable', () => {
  it('counts references and frees a stack with its last one, telling its referents', () => {
    const events: string[] = [];
    const table = new StackTable({ retain: (p, c) => events.push(`+${p}/${c}`), release: (p, c) => events.push(`-${p}/${c}`) });
    const a = table.intern(1, 2, words(0x1000, 0x2000), 0, 0, 2);
    expect(table.intern(1, 2, words(0x1000, 0x2000), 0, 0, 2)).toBe(a);
    expect(table.references(a)).toBe(2);
    table.release(a);
    expect(table.size).toBe(1);
    table.release(a);
    expect(table.size).toBe(0);
    expect(events).toEqual(['+1/2', '-1/2']);
    expect(() => table.release(a)).toThrow(/released more often/);
  });

  it('reuses freed ids and finds stacks past deleted slots', () => {
    const table = new StackTable();
    const ids = Array.from({ length: 1000 }, (_, i) => table.intern(1, 0, words(0x1000 + i, 0x9000), 0, 0, 2));
    for (let i = 0; i < 1000; i += 2) table.release(ids[i]);
    for (let i = 1; i < 1000; i += 2) expect(table.intern(1, 0, words(0x1000 + i, 0x9000), 0, 0, 2)).toBe(ids[i]);
    const fresh = table.intern(1, 0, words(0xabcdef, 0x9000), 0, 0, 2);
    expect(ids.filter((_, i) => i % 2 === 0)).toContain(fresh);
  });

  it('compacts its arena when most of it is garbage, keeping ids and frames', () => {
    const table = new StackTable();
    const deep = Array.from({ length: 100 }, (_, d) => 0x400000 + d * 16);
    const ids: number[] = [];
    for (let i = 0; i < 5000; i++) ids.push(table.intern(7, 0, words(0x100000 + i, ...deep), 0, 0, 101));
    const before = table.bytes;
    for (let i = 0; i < 5000; i++) if (i % 10 !== 0) table.release(ids[i]);
    // Interning more stacks reuses the compacted space instead of growing.
    for (let i = 0; i < 2000; i++) table.intern(8, 0, words(0x200000 + i, ...deep), 0, 0, 101);
    expect(table.bytes).toBeLessThanOrEqual(before);
    for (let i = 0; i < 5000; i += 10) {
      expect(table.frame(ids[i], 0)).toBe(BigInt(0x100000 + i));
      expect(table.frame(ids[i], 100)).toBe(BigInt(deep[99]));
      expect(table.processOf(ids[i])).toBe(7);
    }
  });
});
