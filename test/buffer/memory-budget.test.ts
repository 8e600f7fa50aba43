// The daemon's one memory budget over the real consumers: the sample buffer (with the process
// table), the metric history and the rule engine. Over budget, the oldest thing held anywhere goes
// first; what is live or pinned stays.
import { describe, expect, it } from 'vitest';
import { encodeRecords } from '../../harness/synthetic-records.js';
import { BYTES_PER_SAMPLE, RollingBuffer } from '../../daemon/buffer/rolling-buffer.js';
import { MemoryBudget } from '../../daemon/buffer/memory-budget.js';
import { MetricHistory } from '../../daemon/metrics/metric-history.js';
import type { MetricInstance, MetricReading } from '../../daemon/model/metrics.js';
import { BatchIngest } from '../../daemon/profile/batch-ingest.js';
import { createStackTables } from '../../daemon/profile/stack-tables.js';
import { RuleEngine } from '../../triggers/rule-engine.js';
import { makeRule } from '../triggers/rule-fixture.js';

const S = 1e9;
const CHUNK = 256;
const cmdline = 'java -cp ' + 'x'.repeat(4000);

function processInstance(pid: number): MetricInstance {
  return { kind: 'process', pid, startTime: pid, comm: `p${pid}`, cmdline };
}

function readingsAt(timeMs: number, pids: number[]): MetricReading[] {
  return pids.map((pid) => ({ metric: 'rss', instance: processInstance(pid), value: 1e6, timeMs }));
}

describe('MemoryBudget', () => {
  it('evicts the oldest thing held across consumers, and keeps what is live', () => {
    const budget = new MemoryBudget(512 * 1024);
    const history = new MetricHistory({ retentionMs: 3600_000 });
    const engine = new RuleEngine([makeRule({ name: 'big', metric: 'rss', scope: { kind: 'process', pattern: /./ }, threshold: { value: 1, unit: 'bytes', text: '1B' }, forMs: 0 })], { cpus: 2 });
    budget.add(history);
    budget.add(engine);
    // 200 processes, each seen once and gone: their history and rule instances (each fired, and is
    // remembered for its cooldown) add up.
    for (let t = 0; t < 200; t++) {
      const readings = readingsAt(t * 1000, [1000 + t]);
      history.record(readings);
      engine.evaluate(readings, t * 1000);
    }
    const live = [5000, 5001, 5002];
    const liveReadings = readingsAt(200_000, live);
    history.record(liveReadings);
    engine.evaluate(liveReadings, 200_000);
    const before = budget.bytes();
    expect(before).toBeGreaterThan(512 * 1024);
    expect(budget.makeRoom()).toBe(true);
    expect(budget.bytes()).toBeLessThanOrEqual(512 * 1024);
    const stats = budget.stats();
    expect(stats.evicted.metric_history).toBeGreaterThan(0);
    expect(stats.evicted.rule_instances).toBeGreaterThan(0);
    // Oldest first: the first processes went, the live ones and the latest exited ones stayed.
    const kept = [...history.keys()];
    expect(kept).not.toContain('process:1000:1000');
    for (const pid of live) expect(kept).toContain(`process:${pid}:${pid}`);
    expect(engine.states()[0].instances.map((i) => i.key)).toEqual(expect.arrayContaining(live.map((pid) => `process:${pid}:${pid}`)));
  });

  it('says so when nothing may go, instead of looping', () => {
    const budget = new MemoryBudget(1024);
    const engine = new RuleEngine([makeRule({ name: 'big', metric: 'rss', scope: { kind: 'process', pattern: /./ }, threshold: { value: 1, unit: 'bytes', text: '1B' }, forMs: 0 })], { cpus: 2 });
    budget.add(engine);
    engine.evaluate(readingsAt(1000, [1, 2, 3, 4, 5, 6]), 1000); // all live: none may go
    expect(budget.makeRoom()).toBe(false);
    expect(engine.states()[0].instances).toHaveLength(6);
  });

  it('lets a pinned window and live history stand while old samples give way', () => {
    // The stack and thread tables start at about a third of a megabyte; 16 chunks on top of that.
    const budget = new MemoryBudget(16 * CHUNK * BYTES_PER_SAMPLE + 1024 * 1024);
    const tables = createStackTables(() => undefined);
    const buffer = new RollingBuffer(tables, { retainNs: 3600 * S, maxBytes: budget.maxBytes, chunkSamples: CHUNK, budget });
    const history = new MetricHistory({ retentionMs: 3600_000 });
    budget.add(history);
    const ingest = new BatchIngest(tables, buffer);
    const feed = (second: number) => {
      ingest.ingest(encodeRecords(Array.from({ length: 500 }, (_, i) => ({ timeNs: second * S + i * 2e6, pid: 100, user: [BigInt(0x401000 + (i % 4) * 16)] }))));
      buffer.enforceBounds();
    };
    for (let second = 0; second < 10; second++) feed(second);
    const pin = buffer.pin(2 * S, 4 * S);
    for (let second = 10; second < 200; second++) {
      feed(second);
      history.record(readingsAt(second * 1000, [7]));
      budget.makeRoom(); // as the daemon does after each collector round
    }
    expect(budget.bytes()).toBeLessThanOrEqual(budget.maxBytes);
    let pinned = 0;
    buffer.forEachSample(2 * S, 4 * S, () => pinned++);
    expect(pinned).toBe(1000);
    expect(buffer.stats().evictedEarlySamples).toBeGreaterThan(0);
    expect([...history.keys()]).toEqual(['process:7:7']);
    pin.release();
  });
});
