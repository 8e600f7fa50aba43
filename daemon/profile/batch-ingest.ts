import { allocationWeight, DEFAULT_COPY_MEAN_BYTES } from '../model/allocation-sampling.js';
import type { ProcessEvents } from '../model/process-events.js';
import { kindOfRecord, MAX_RECORD_KIND, PROFILE_KINDS } from '../model/profile-kind.js';
import { AllocationFlags, RECORD_HEADER_BYTES, RECORD_VERSION, RecordFlags, RecordKind, RecordWords, readComm } from '../sampler/sample-record.js';
import type { AllocationEvents } from './allocation-ledger.js';
import type { StackTables } from './sample-source.js';

/** Where decoded samples go: the recording's columns, or the daemon's rolling buffer. */
export interface SampleSink {
  /** One sample; `weight` is in its kind's unit (daemon/model/profile-kind.ts), 1 for a CPU sample. */
  append(timeNs: number, stackId: number, tid: number, weight?: number): void;
}

const TWO_32 = 4294967296;
// The fields' u32 word indexes, from the layout generated from bpf/sampler.h. Little-endian hosts
// only (x86-64, arm64), like the BPF side that wrote them.
const W = RecordWords;
/** The flags a stack keeps (its identity): what the profile shows at its root. */
const SHOWN_FLAGS = RecordFlags.kstackError | RecordFlags.ustackError | RecordFlags.ustackTruncated | RecordFlags.ustackStopped;
const TABLES_WANTED = RecordFlags.ustackNoTables | RecordFlags.ustackUnknownMapping;
const ALLOC_KIND = PROFILE_KINDS.malloc.record;
const COPY_KIND = PROFILE_KINDS.memcpy.record;

/** A record's exact start time (see ProcessEvents); only built for the few records that need it. */
function startTimeOf(words: Uint32Array, w: number): bigint {
  return (BigInt(words[w + W.startHi]) << 32n) | BigInt(words[w + W.startLo]);
}

/** Stacks the kernel could not read, by side, since the decoder started. */
export interface StackErrorCounts {
  /** bpf_get_stack failed for the kernel stack. */
  kernel: number;
  /** … for the user stack (not a kernel thread: those have none to read). */
  user: number;
}

/**
 * Decodes batches of sampler records straight from the bytes: interns process, thread name and
 * stack (with its profile kind and whether the kernel could read it), and appends one (time,
 * stack, thread, weight) sample per record. No per-sample objects.
 */
export class BatchIngest {
  /** Sample records decoded. */
  records = 0;
  /** Exec events decoded. */
  execs = 0;
  /** Exit events decoded (processes the unwind tables knew). */
  exits = 0;
  /** Allocation events decoded (addresses of sampled allocations, their frees). */
  allocationEvents = 0;
  /** Records skipped: unknown version, unknown kind, or cut short. */
  skipped = 0;
  readonly stackErrors: StackErrorCounts = { kernel: 0, user: 0 };

  constructor(
    private readonly tables: StackTables,
    private readonly sink: SampleSink,
    private readonly events?: ProcessEvents,
    /** Told of sampled allocations, their addresses and frees (without it, an allocation weighs its size). */
    private readonly allocations?: AllocationEvents,
    /** The copy profile's mean bytes between samples (bpf/copies.h): a sampled copy weighs what it stands for. */
    private readonly copyMeanBytes = DEFAULT_COPY_MEAN_BYTES,
  ) {}

  ingest(batch: Uint8Array): void {
    // The native side hands over malloc'd (8-byte aligned) memory; copy only if someone did not.
    const bytes = batch.byteOffset % 4 === 0 ? batch : new Uint8Array(batch);
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    const { processes, comms, stacks } = this.tables;
    let w = 0;
    while (w < words.length) {
      const size = words[w + W.size];
      if (size < RECORD_HEADER_BYTES || size % 8 !== 0 || w + (size >>> 2) > words.length) {
        this.skipped++;
        return;
      }
      const next = w + (size >>> 2);
      const versionFlagsKind = words[w + W.versionFlagsKind];
      if ((versionFlagsKind & 0xff) !== RECORD_VERSION) {
        this.skipped++;
        w = next;
        continue;
      }
      const kind = versionFlagsKind >>> 16;
      const timeNs = words[w + W.timeHi] * TWO_32 + words[w + W.timeLo];
      if (kind === RecordKind.exec) {
        processes.exec(words[w + W.pid], words[w + W.startHi] * TWO_32 + words[w + W.startLo], readComm(bytes, w * 4), timeNs);
        this.events?.gone(words[w + W.pid], startTimeOf(words, w), timeNs);
        this.execs++;
        w = next;
        continue;
      }
      if (kind === RecordKind.allocResult || kind === RecordKind.free) {
        const address = words[w + W.addressHi] * TWO_32 + words[w + W.addressLo];
        if (kind === RecordKind.free) this.allocations?.freed(words[w + W.pid], address);
        else this.allocations?.returned(words[w + W.pid], words[w + W.tid], address, ((versionFlagsKind >>> 8) & AllocationFlags.untracked) !== 0);
        this.allocationEvents++;
        w = next;
        continue;
      }
      if (kind === RecordKind.exit) {
        this.events?.gone(words[w + W.pid], startTimeOf(words, w), timeNs);
        this.exits++;
        w = next;
        continue;
      }
      const kernelLen = words[w + W.lengths] & 0xffff;
      const userLen = words[w + W.lengths] >>> 16;
      if (kind > MAX_RECORD_KIND || kindOfRecord(kind) === undefined || W.stacks + (kernelLen + userLen) * 2 > size >>> 2) {
        this.skipped++;
        w = next;
        continue;
      }
      const allFlags = (versionFlagsKind >>> 8) & 0xff;
      if (allFlags & TABLES_WANTED && this.events) {
        this.events.tablesWanted(words[w + W.pid], startTimeOf(words, w), (allFlags & RecordFlags.ustackUnknownMapping) !== 0);
      }
      const flags = allFlags & SHOWN_FLAGS;
      if (flags & RecordFlags.kstackError) this.stackErrors.kernel++;
      if (flags & RecordFlags.ustackError) this.stackErrors.user++;
      const tid = words[w + W.tid];
      const recordStart = w * 4;
      const processId = processes.lookup(
        words[w + W.pid],
        words[w + W.startHi] * TWO_32 + words[w + W.startLo],
        () => readComm(bytes, recordStart),
        timeNs,
      );
      const commId = comms.lookup(tid, words[w + W.comm], words[w + W.comm + 1], words[w + W.comm + 2], words[w + W.comm + 3], () =>
        readComm(bytes, recordStart),
      );
      const stackId = stacks.intern(processId, commId, words, w + W.stacks, kernelLen, userLen, kind | (flags << 16));
      let weight = words[w + W.weightHi] * TWO_32 + words[w + W.weightLo];
      if (kind === ALLOC_KIND && this.allocations) weight = this.allocations.sampled(words[w + W.pid], tid, stackId, weight, timeNs);
      else if (kind === COPY_KIND) weight = allocationWeight(weight, this.copyMeanBytes).bytes;
      this.sink.append(timeNs, stackId, tid, weight);
      this.records++;
      w = next;
    }
  }
}
