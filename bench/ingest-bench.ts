import { Recording } from '../daemon/profile/recording.js';
import { encodeRecords, type SyntheticRecord } from '../harness/synthetic-records.js';

export interface IngestResult {
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  uniqueStacks: number;
  bytesPerSample: number;
}

/**
 * Decode + intern + append of synthetic batches shaped like real ones: 50 processes, 5,000 unique
 * stacks 10–40 frames deep (kernel and user), ~1 MiB batches. Measures samples per second on the
 * one JS thread.
 */
export function runIngestBench(totalSamples = 5_000_000): IngestResult {
  const uniqueStacks: SyntheticRecord[] = [];
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < 5000; i++) {
    const pid = 1000 + (i % 50);
    const userDepth = 8 + Math.floor(random() * 25);
    const kernelDepth = random() < 0.3 ? 5 + Math.floor(random() * 10) : 0;
    uniqueStacks.push({
      timeNs: 0,
      pid,
      tid: pid,
      startTimeNs: pid * 1000,
      comm: `proc-${pid}`,
      user: Array.from({ length: userDepth }, (_, d) => BigInt(0x400000 + ((i * 7 + d * 131) % 65536) * 16)),
      kernel: Array.from({ length: kernelDepth }, (_, d) => 0xffffffff81000000n + BigInt(d * 4096 + (i % 97) * 64)),
    });
  }
  // Batches of 4,000 records (~1 MiB), drawn with a skew: a few stacks are hot, as in real profiles.
  const batches: Buffer[] = [];
  for (let b = 0; b < 16; b++) {
    const records: SyntheticRecord[] = [];
    for (let r = 0; r < 4000; r++) {
      const pick = uniqueStacks[Math.floor(random() ** 3 * uniqueStacks.length)];
      records.push({ ...pick, timeNs: 1e12 + (b * 4000 + r) * 1e5 });
    }
    batches.push(encodeRecords(records));
  }
  const recording = new Recording(() => undefined);
  // Warm up the JIT, then measure.
  for (const batch of batches) recording.ingest(batch);
  const measured = new Recording(() => undefined);
  const perRound = 16 * 4000;
  const rounds = Math.ceil(totalSamples / perRound);
  const started = process.hrtime.bigint();
  for (let round = 0; round < rounds; round++) for (const batch of batches) measured.ingest(batch);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const samples = measured.samples.length;
  return {
    samples,
    seconds,
    samplesPerSecond: samples / seconds,
    uniqueStacks: measured.stacks.size,
    bytesPerSample: (measured.samples.bytes / measured.samples.timeNs.length),
  };
}
