import { describe, expect, it } from 'vitest';
import { allocationWeight } from '../daemon/model/allocation-sampling.js';
import { AllocationLedger } from '../daemon/profile/allocation-ledger.js';
import { StackTable } from '../daemon/profile/stack-table.js';

// The ledger of outstanding sampled allocations (daemon/profile/allocation-ledger.ts) over a real
// stack table: what it keeps, what it gives back, and the references it holds.

const MEAN = 512 * 1024;

/** A table with one stack per frame address given, each interned once (one sample's reference). */
function tableWith(...addresses: number[]): { table: StackTable; ids: number[] } {
  const table = new StackTable();
  const ids = addresses.map((address) => table.intern(1, 1, new Uint32Array([address, 0]), 0, 0, 1, 3));
  return { table, ids };
}

describe('AllocationLedger', () => {
  it('weighs a sample by what it stands for, keeps it from its address to its free, and holds its stack meanwhile', () => {
    const { table, ids } = tableWith(0x1000, 0x2000);
    const ledger = new AllocationLedger(table, MEAN);
    ledger.follow(42);
    const weight = ledger.sampled(42, 7, ids[0], 16 * 1024, 100);
    expect(weight).toBeCloseTo(allocationWeight(16 * 1024, MEAN).bytes);
    expect(weight / (16 * 1024)).toBeCloseTo(1 / -Math.expm1(-1 / 32));
    ledger.returned(42, 7, 0x7f00_0000_1000, false);
    ledger.sampled(42, 8, ids[1], 1 << 20, 200);
    ledger.returned(42, 8, 0x7f00_0000_2000, false);
    expect(ledger.stats()).toMatchObject({ outstanding: 2, processes: 1 });
    expect(table.references(ids[0])).toBe(2); // the sample's, and the ledger's

    const visited: Array<[number, number]> = [];
    ledger.forEachSample(-Infinity, Infinity, (time, stack) => visited.push([time, stack]));
    expect(visited).toEqual([
      [100, ids[0]],
      [200, ids[1]],
    ]);
    ledger.freed(42, 0x7f00_0000_1000);
    expect(table.references(ids[0])).toBe(1);
    expect(ledger.stats().outstanding).toBe(1);
    expect(ledger.outstandingBytesOf(42)).toBeCloseTo(allocationWeight(1 << 20, MEAN).bytes);
  });

  it('keeps nothing of a failed or untracked allocation, nor of a process it does not follow', () => {
    const { table, ids } = tableWith(0x1000);
    const ledger = new AllocationLedger(table, MEAN);
    ledger.follow(42);
    ledger.sampled(42, 7, ids[0], 4096, 1);
    ledger.returned(42, 7, 0, false);
    ledger.sampled(42, 7, ids[0], 4096, 2);
    ledger.returned(42, 7, 0x5000, true);
    // Records of a process whose probes went (still in the ring when they did).
    ledger.sampled(99, 9, ids[0], 4096, 3);
    ledger.returned(99, 9, 0x6000, false);
    expect(ledger.stats()).toMatchObject({ outstanding: 0, untracked: 1, unmatched: 0 });
    expect(table.references(ids[0])).toBe(1);
  });

  it('gives back every reference when a process is forgotten, after any hold in force ends', () => {
    const { table, ids } = tableWith(0x1000, 0x2000);
    const ledger = new AllocationLedger(table, MEAN);
    ledger.follow(42);
    ledger.sampled(42, 7, ids[0], 4096, 1);
    ledger.returned(42, 7, 0x5000, false);
    ledger.sampled(42, 8, ids[1], 4096, 2); // its result not in yet
    const release = ledger.hold();
    ledger.forget(42);
    // A capture symbolizing across awaits still finds the stacks.
    expect(table.references(ids[0])).toBe(2);
    expect(table.references(ids[1])).toBe(2);
    release();
    release(); // twice is once
    expect(table.references(ids[0])).toBe(1);
    expect(table.references(ids[1])).toBe(1);
    expect(ledger.stats()).toMatchObject({ outstanding: 0, processes: 0 });
    // Forgotten: what arrives of it now is not kept.
    ledger.returned(42, 8, 0x6000, false);
    expect(ledger.stats().outstanding).toBe(0);
  });
});
