import { RECORD_HEADER_BYTES, RECORD_VERSION, RecordLayout } from '../daemon/sampler/sample-record.js';

/** One sampler record, described for tests and benchmarks. Stacks innermost first. */
export interface SyntheticRecord {
  timeNs: number;
  pid: number;
  tid?: number;
  cpu?: number;
  startTimeNs?: number;
  comm?: string;
  kernel?: bigint[];
  user?: bigint[];
  version?: number;
  /** The record kind: 0 a CPU sample (default), 1 an exec event, others a profile kind's (daemon/model/profile-kind.ts). */
  kind?: number;
  /** In the kind's unit. @defaultValue 1 (0 for an exec event) */
  weight?: number;
  /** TAIL2_FLAG_* bits. @defaultValue 0 */
  flags?: number;
}

/** Encodes records exactly as bpf/sampler.bpf.c writes them into the ring buffer. */
export function encodeRecords(records: SyntheticRecord[]): Buffer {
  const sizes = records.map((r) => RECORD_HEADER_BYTES + 8 * ((r.kernel?.length ?? 0) + (r.user?.length ?? 0)));
  const buffer = Buffer.alloc(sizes.reduce((a, b) => a + b, 0));
  let offset = 0;
  records.forEach((record, i) => {
    buffer.writeBigUInt64LE(BigInt(Math.round(record.timeNs)), offset + RecordLayout.timestamp_ns);
    buffer.writeBigUInt64LE(1n, offset + RecordLayout.cgroup_id);
    buffer.writeBigUInt64LE(BigInt(record.startTimeNs ?? 1_000_000), offset + RecordLayout.start_time_ns);
    buffer.writeBigUInt64LE(BigInt(Math.round(record.weight ?? (record.kind === 1 ? 0 : 1))), offset + RecordLayout.weight);
    buffer.writeUInt32LE(sizes[i], offset + RecordLayout.size);
    buffer.writeUInt32LE(record.pid, offset + RecordLayout.pid);
    buffer.writeUInt32LE(record.tid ?? record.pid, offset + RecordLayout.tid);
    buffer.writeUInt32LE(record.cpu ?? 0, offset + RecordLayout.cpu);
    buffer.writeUInt16LE(record.kernel?.length ?? 0, offset + RecordLayout.kstack_len);
    buffer.writeUInt16LE(record.user?.length ?? 0, offset + RecordLayout.ustack_len);
    buffer.writeUInt8(record.version ?? RECORD_VERSION, offset + RecordLayout.version);
    buffer.writeUInt8(record.flags ?? 0, offset + RecordLayout.flags);
    buffer.writeUInt16LE(record.kind ?? 0, offset + RecordLayout.kind);
    buffer.write((record.comm ?? 'synthetic').slice(0, 15), offset + RecordLayout.comm, 'utf8');
    let at = offset + RecordLayout.stacks;
    for (const address of [...(record.kernel ?? []), ...(record.user ?? [])]) {
      buffer.writeBigUInt64LE(address, at);
      at += 8;
    }
    offset += sizes[i];
  });
  return buffer;
}
