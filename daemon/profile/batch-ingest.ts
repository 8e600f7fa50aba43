import { RECORD_HEADER_BYTES, RECORD_VERSION, RecordKind, readComm } from '../sampler/sample-record.js';
import type { StackTables } from './sample-source.js';

/** Where decoded samples go: the recording's columns, or the daemon's rolling buffer. */
export interface SampleSink {
  append(timeNs: number, stackId: number, tid: number): void;
}


const TWO_32 = 4294967296;
// Word (u32) indexes of the record fields; see sample-record.ts. Little-endian hosts only (x86-64,
// arm64), like the BPF side that wrote them.
const W_TIME_LO = 0;
const W_TIME_HI = 1;
const W_START_LO = 4;
const W_START_HI = 5;
const W_SIZE = 6;
const W_PID = 7;
const W_TID = 8;
const W_LENGTHS = 10;
const W_VERSION_FLAGS = 11; // version u8, flags u8, kind u16
const W_COMM = 12;
const W_STACKS = 16;

/**
 * Decodes batches of sampler records straight from the bytes: interns process, thread name and
 * stack, and appends one (time, stack, thread) sample per record. No per-sample objects.
 */
export class BatchIngest {
  /** Sample records decoded. */
  records = 0;
  /** Exec events decoded. */
  execs = 0;
  /** Records skipped: unknown version or cut short. */
  skipped = 0;

  constructor(
    private readonly tables: StackTables,
    private readonly sink: SampleSink,
  ) {}

  ingest(batch: Uint8Array): void {
    // The native side hands over malloc'd (8-byte aligned) memory; copy only if someone did not.
    const bytes = batch.byteOffset % 4 === 0 ? batch : new Uint8Array(batch);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    const { processes, comms, stacks } = this.tables;
    let w = 0;
    while (w < words.length) {
      const size = words[w + W_SIZE];
      if (size < RECORD_HEADER_BYTES || size % 8 !== 0 || w + (size >>> 2) > words.length) {
        this.skipped++;
        return;
      }
      const next = w + (size >>> 2);
      const versionFlagsKind = words[w + W_VERSION_FLAGS];
      if ((versionFlagsKind & 0xff) !== RECORD_VERSION) {
        this.skipped++;
        w = next;
        continue;
      }
      const timeNs = words[w + W_TIME_HI] * TWO_32 + words[w + W_TIME_LO];
      if (versionFlagsKind >>> 16 === RecordKind.exec) {
        processes.exec(words[w + W_PID], words[w + W_START_HI] * TWO_32 + words[w + W_START_LO], readComm(bytes, w * 4), timeNs);
        this.execs++;
        w = next;
        continue;
      }
      const kernelLen = words[w + W_LENGTHS] & 0xffff;
      const userLen = words[w + W_LENGTHS] >>> 16;
      if (W_STACKS + (kernelLen + userLen) * 2 > size >>> 2) {
        this.skipped++;
        w = next;
        continue;
      }
      const tid = words[w + W_TID];
      const recordStart = w * 4;
      const processId = processes.lookup(
        words[w + W_PID],
        words[w + W_START_HI] * TWO_32 + words[w + W_START_LO],
        () => readComm(bytes, recordStart),
        timeNs,
      );
      const commId = comms.lookup(tid, words[w + W_COMM], words[w + W_COMM + 1], words[w + W_COMM + 2], words[w + W_COMM + 3], () =>
        readComm(bytes, recordStart),
      );
      const stackId = stacks.intern(processId, commId, words, w + W_STACKS, kernelLen, userLen);
      this.sink.append(timeNs, stackId, tid);
      this.records++;
      w = next;
    }
  }
}
