import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BYTES_PER_SAMPLE, RollingBuffer } from '../daemon/buffer/rolling-buffer.js';
import { BatchIngest } from '../daemon/profile/batch-ingest.js';
import { createStackTables } from '../daemon/profile/stack-tables.js';
import { encodeRecords, type SyntheticRecord } from '../harness/synthetic-records.js';

export interface BufferBenchResult {
  cpus: number;
  samples: number;
  uniqueStacks: number;
  /** Bytes of sample storage per sample held, counting only filled slots. */
  sampleBytesPerSample: number;
  /** Allocated but not yet filled room in the newest chunk, as a share of the sample storage. */
  chunkSlack: number;
  /** Everything the buffer accounts (samples, stack table, process entries) per sample. */
  totalBytesPerSample: number;
  bufferBytes: number;
  /** Growth of this process's RSS while the window filled. */
  rssGrowthBytes: number;
  rssBytes: number;
}

/**
 * A full 10-minute window at 99 Hz on `cpus` CPUs (synthetic load: 200 processes, 20,000 unique
 * stacks 10–40 frames deep, skewed like real profiles), fed through the real decoder into the
 * real rolling buffer. Reports what a sample costs in the buffer and the RSS of holding it.
 */
export function runBufferBench(cpus = 64): BufferBenchResult {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  if (!Number.isInteger(cpus) || cpus < 1) throw new RangeError(`cpus must be a positive whole number, not ${cpus}`);
  const tables = createStackTables(() => undefined);
  const buffer = new RollingBuffer(tables, { retainNs: 600e9, maxBytes: 1 << 30 });
  const ingest = new BatchIngest(tables, buffer);
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const stacks: SyntheticRecord[] = Array.from({ length: 20_000 }, (_, i) => {
    const pid = 1000 + (i % 200);
    return {
      timeNs: 0,
      pid,
      startTimeNs: pid,
      comm: `proc-${pid}`,
      user: Array.from({ length: 10 + Math.floor(random() * 30) }, (_, d) => BigInt(0x400000 + ((i * 13 + d * 97) % 100_000) * 16)),
      kernel: random() < 0.3 ? Array.from({ length: 8 }, (_, d) => 0xffffffff81000000n + BigInt(d * 4096 + (i % 50) * 64)) : [],
    };
  });
  const perSecond = 99 * cpus;
  for (let second = 0; second < 600; second++) {
    const records: SyntheticRecord[] = [];
    for (let i = 0; i < perSecond; i++) records.push({ ...stacks[Math.floor(random() ** 2 * stacks.length)], timeNs: 1e12 + second * 1e9 + (i * 1e9) / perSecond });
    ingest.ingest(encodeRecords(records));
    buffer.enforceBounds();
  }
  global.gc?.();
  const stats = buffer.stats();
  const rss = process.memoryUsage().rss;
  return {
    cpus,
    samples: stats.samples,
    uniqueStacks: tables.stacks.size,
    sampleBytesPerSample: BYTES_PER_SAMPLE,
    chunkSlack: stats.sampleBytes / (stats.samples * BYTES_PER_SAMPLE) - 1,
    totalBytesPerSample: stats.bytes / stats.samples,
    bufferBytes: stats.bytes,
    rssGrowthBytes: rss - rssBefore,
    rssBytes: rss,
  };
}

/** Runs {@link runBufferBench} in a fresh Node process, so its RSS is the buffer's alone plus Node's own. */
export function runBufferBenchInChild(cpus: number): BufferBenchResult {
  const child = join(dirname(fileURLToPath(import.meta.url)), 'buffer-child.js');
  return JSON.parse(execFileSync(process.execPath, ['--expose-gc', child, String(cpus)]).toString()) as BufferBenchResult;
}
