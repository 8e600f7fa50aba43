import { describe, expect, it } from 'vitest';
import { encodeRecords, type SyntheticRecord } from '../../harness/synthetic-records.js';
import { BYTES_PER_SAMPLE, RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import { BatchIngest } from '../../daemon/profile/batch-ingest.js';
import { createStackTables } from '../../daemon/profile/stack-tables.js';

const S = 1e9;
const CHUNK = 256;

/** A buffer fed through the real decoder, with a stand-in for /proc snapshots. */
function setup(retainNs: number, maxBytes: number) {
  const tables = createStackTables(() => undefined);
  const buffer = new RollingBuffer(tables, { retainNs, maxBytes, chunkSamples: CHUNK });
  const ingest = new BatchIngest(tables, buffer);
  const feed = (records: SyntheticRecord[]) => {
    ingest.ingest(encodeRecords(records));
    buffer.enforceBounds();
  };
  return { tables, buffer, feed };
}

/** `count` samples from `t0`, `stepNs` apart, of one process with a few hot stacks. */
function steady(t0: number, count: number, stepNs: number, pid = 100): SyntheticRecord[] {
  return Array.from({ length: count }, (_, i) => ({ timeNs: t0 + i * stepNs, pid, user: [BigInt(0x401000 + (i % 4) * 16), 0x402000n] }));
}

function samplesIn(buffer: RollingBuffer, fromNs: number, toNs: number): number {
  let n = 0;
  buffer.forEachSample(fromNs, toNs, () => n++);
  return n;
}

describe('RollingBuffer', () => {
  it('keeps the last `retain` of samples and counts what aged out', () => {
    const { buffer, feed } = setup(10 * S, 64 << 20);
    for (let second = 0; second < 30; second++) feed(steady(second * S, 100, S / 100));
    const stats = buffer.stats();
    // Eviction is by chunk: the span is at most retain plus one chunk's worth of time.
    expect(stats.spanNs).toBeGreaterThanOrEqual(10 * S);
    expect(stats.spanNs).toBeLessThanOrEqual(10 * S + (CHUNK / 100) * S);
    expect(stats.expiredSamples).toBeGreaterThan(1500);
    expect(stats.evictedEarlySamples).toBe(0);
    expect(samplesIn(buffer, 0, 15 * S)).toBe(0);
    expect(samplesIn(buffer, 25 * S, 30 * S)).toBe(500);
  });

  it('stays under max_memory, evicting early and saying so', () => {
    const maxBytes = 64 * CHUNK * BYTES_PER_SAMPLE + (1 << 20);
    const { buffer, feed } = setup(3600 * S, maxBytes);
    for (let second = 0; second < 200; second++) feed(steady(second * S, 500, S / 500));
    const stats = buffer.stats();
    expect(stats.bytes).toBeLessThanOrEqual(maxBytes);
    expect(stats.evictedEarlySamples).toBeGreaterThan(0);
    expect(stats.samples + stats.evictedEarlySamples).toBe(200 * 500);
  });

  it('does not grow its tables under a fork storm of short-lived processes', () => {
    const { tables, buffer, feed } = setup(5 * S, 64 << 20);
    // 20,000 processes, each with its own stacks and thread name, 20 samples each, over 100 s.
    for (let p = 0; p < 20_000; p++) {
      const t0 = p * 5e6;
      feed(
        Array.from({ length: 20 }, (_, i) => ({
          timeNs: t0 + i * 2e5,
          pid: 10_000 + p,
          startTimeNs: p,
          comm: `worker-${p}`,
          user: [BigInt(0x500000 + i * 8), BigInt(0x600000 + p)],
        })),
      );
    }
    const live = { stacks: tables.stacks.size, processes: tables.processes.size, comms: tables.comms.size };
    // Only what the last 5 s (1,000 processes' worth) plus the 30 s exec grace and one chunk need.
    expect(live.stacks).toBeLessThanOrEqual(1_100 * 20 + CHUNK);
    expect(live.comms).toBeLessThanOrEqual(1_100 + CHUNK);
    expect(live.processes).toBeLessThanOrEqual(7_000);
    expect(buffer.stats().expiredSamples).toBeGreaterThan(300_000);
  });

  it('keeps a pinned window through memory pressure, including samples that arrive after the pin', () => {
    const maxBytes = 16 * CHUNK * BYTES_PER_SAMPLE + 400_000; // the stack table takes ~340 KB of it
    const { buffer, feed } = setup(3600 * S, maxBytes);
    feed(steady(0, 2000, S / 1000)); // 0–2 s
    const pin = buffer.pin(1 * S, 3 * S); // a capture at t = 2 s with before 1 s, after 1 s
    feed(steady(2 * S, 1000, S / 1000)); // 2–3 s: the `after` part
    for (let second = 3; second < 40; second++) feed(steady(second * S, 1000, S / 1000));
    expect(samplesIn(buffer, 1 * S, 3 * S)).toBe(2000);
    expect(buffer.stats().evictedEarlySamples).toBeGreaterThan(0);
    pin.release();
    feed(steady(40 * S, 3000, S / 1000));
    expect(samplesIn(buffer, 1 * S, 3 * S)).toBe(0);
    expect(buffer.stats().pins).toBe(0);
  });

  it('refuses and counts new samples when pinned data fills the cap', () => {
    const maxBytes = 4 * CHUNK * BYTES_PER_SAMPLE + 400_000;
    const { tables, buffer, feed } = setup(3600 * S, maxBytes);
    const pin = buffer.pin(0, 1e6 * S);
    for (let second = 0; second < 20; second++) feed(steady(second * S, 1000, S / 1000));
    const stats = buffer.stats();
    expect(stats.droppedSamples).toBeGreaterThan(0);
    expect(stats.samples + stats.droppedSamples).toBe(20_000);
    // A refused sample gives its stack reference back: only held samples hold stacks.
    let held = 0;
    for (let id = 0; id < 4; id++) held += tables.stacks.references(id);
    expect(held).toBe(stats.samples);
    pin.release();
  });

  it('rejects a max_memory too small to work with', () => {
    expect(() => new RollingBuffer(createStackTables(() => undefined), { retainNs: S, maxBytes: 1000, chunkSamples: CHUNK })).toThrow(/buffer.max_memory of 1000 bytes is too small/);
  });
});
