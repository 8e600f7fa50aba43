import { describe, expect, it } from 'vitest';
import { encodeRecords } from '../harness/synthetic-records.js';
import { Recording } from '../daemon/profile/recording.js';

const noSnapshot = () => undefined;
const KERNEL = [0xffffffff81000010n, 0xffffffff81000200n];
const USER_A = [0x401010n, 0x401100n, 0x401200n];
const USER_B = [0x401020n, 0x401100n, 0x401200n];

describe('batch ingest', () => {
  it('interns identical stacks once and keeps one sample per record, in order', () => {
    const recording = new Recording(noSnapshot);
    recording.ingest(
      encodeRecords([
        { timeNs: 100, pid: 10, comm: 'app', kernel: KERNEL, user: USER_A },
        { timeNs: 200, pid: 10, comm: 'app', kernel: KERNEL, user: USER_A },
        { timeNs: 300, pid: 10, comm: 'app', user: USER_B },
      ]),
    );
    expect(recording.samples.length).toBe(3);
    expect(recording.stacks.size).toBe(2);
    expect(Array.from(recording.samples.stack.subarray(0, 3))).toEqual([0, 0, 1]);
    expect(Array.from(recording.samples.timeNs.subarray(0, 3))).toEqual([100, 200, 300]);
    expect(recording.stacks.kernelLength(0)).toBe(2);
    expect(recording.stacks.userLength(0)).toBe(3);
    expect(recording.stacks.frame(0, 0)).toBe(KERNEL[0]);
    expect(recording.stacks.frame(0, 2)).toBe(USER_A[0]);
    expect(recording.comms.name(recording.stacks.commOf(0))).toBe('app');
  });

  it('keeps full 64-bit kernel addresses and timestamps past 2^32', () => {
    const recording = new Recording(noSnapshot);
    const timeNs = 5_000_000_000_123;
    recording.ingest(encodeRecords([{ timeNs, pid: 1, kernel: [0xffffffffc0a01234n] }]));
    expect(recording.samples.timeNs[0]).toBe(timeNs);
    expect(recording.stacks.frame(0, 0)).toBe(0xffffffffc0a01234n);
  });

  it('tells a reused pid apart by its start time', () => {
    const recording = new Recording(noSnapshot);
    recording.ingest(
      encodeRecords([
        { timeNs: 1, pid: 500, startTimeNs: 1_000, comm: 'first', user: USER_A },
        { timeNs: 2, pid: 500, startTimeNs: 9_000, comm: 'second', user: USER_A },
      ]),
    );
    expect(recording.processes.size).toBe(2);
    expect(recording.stacks.size).toBe(2);
    expect(recording.processes.get(0).comm).toBe('first');
    expect(recording.processes.get(1).comm).toBe('second');
  });

  it('treats an exec as a new process: samples before it keep the old image', () => {
    const seen: number[] = [];
    const recording = new Recording((pid) => {
      seen.push(pid);
      return undefined;
    });
    recording.ingest(
      encodeRecords([
        { timeNs: 1, pid: 40, startTimeNs: 5, comm: 'sh', user: USER_A },
        { timeNs: 2, pid: 40, startTimeNs: 5, comm: 'burner', kind: 1 },
        { timeNs: 3, pid: 40, startTimeNs: 5, comm: 'burner', user: USER_A },
      ]),
    );
    expect(recording.execEvents).toBe(1);
    expect(recording.samples.length).toBe(2); // the exec event is not a sample
    // Snapshotted at first sight, at the exec, and again at the first sample after the exec (the
    // libraries are mapped by then).
    expect(seen).toEqual([40, 40, 40]);
    const before = recording.stacks.processOf(recording.samples.stack[0]);
    const after = recording.stacks.processOf(recording.samples.stack[1]);
    expect(before).not.toBe(after);
    expect(recording.processes.get(after).comm).toBe('burner');
  });

  it('snapshots a process once, when first seen', () => {
    const seen: number[] = [];
    const recording = new Recording((pid) => {
      seen.push(pid);
      return undefined;
    });
    recording.ingest(encodeRecords([1, 2, 3].map((t) => ({ timeNs: t, pid: 77, user: USER_A }))));
    recording.ingest(encodeRecords([{ timeNs: 4, pid: 78, user: USER_A }]));
    expect(seen).toEqual([77, 78]);
  });

  it('separates threads with different names in one process', () => {
    const recording = new Recording(noSnapshot);
    recording.ingest(
      encodeRecords([
        { timeNs: 1, pid: 9, tid: 9, comm: 'main', user: USER_A },
        { timeNs: 2, pid: 9, tid: 10, comm: 'worker', user: USER_A },
        { timeNs: 3, pid: 9, tid: 10, comm: 'worker', user: USER_A },
      ]),
    );
    expect(recording.stacks.size).toBe(2);
    expect(recording.comms.name(recording.stacks.commOf(recording.samples.stack[2]))).toBe('worker');
  });

  it('skips records of an unknown version and stops at a record cut short', () => {
    const recording = new Recording(noSnapshot);
    const good = encodeRecords([{ timeNs: 1, pid: 1, user: USER_A }]);
    const future = encodeRecords([{ timeNs: 2, pid: 1, user: USER_A, version: 9 }]);
    recording.ingest(Buffer.concat([good, future, good]));
    expect(recording.samples.length).toBe(2);
    expect(recording.skippedRecords).toBe(1);
    recording.ingest(good.subarray(0, good.length - 8));
    expect(recording.samples.length).toBe(2);
    expect(recording.skippedRecords).toBe(2);
  });

  it('grows its tables past their first allocation without losing stacks', () => {
    const recording = new Recording(noSnapshot);
    const records = [];
    for (let i = 0; i < 20_000; i++) records.push({ timeNs: i, pid: 3, user: [BigInt(0x400000 + i * 16), 0x401000n] });
    recording.ingest(encodeRecords(records));
    recording.ingest(encodeRecords(records));
    expect(recording.stacks.size).toBe(20_000);
    expect(recording.samples.length).toBe(40_000);
    expect(recording.samples.stack[20_000 + 12_345]).toBe(12_345);
    expect(recording.stacks.frame(12_345, 0)).toBe(BigInt(0x400000 + 12_345 * 16));
  });
});
