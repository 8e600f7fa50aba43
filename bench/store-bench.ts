import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { INCIDENT_ID_PATTERN } from '../daemon/capture/incident-id.js';
import type { IncidentRecord } from '../daemon/model/incident-record.js';
import { IncidentStore } from '../daemon/store/incident-store.js';
import { encodeCursor } from '../daemon/store/list-cursor.js';
import { fixtureRecord } from '../harness/fixture-incident.js';
import { testOutput } from '../harness/fixture-programs.js';

/** Median milliseconds of one query shape, and of the directory-scan baseline where there is one. */
export interface StoreQueryTiming {
  name: string;
  medianMs: number;
  rows: number;
  /** The same page served by reading directories, as the listing before the index did. */
  baselineMs?: number;
}

export interface StoreBenchResult {
  incidents: number;
  runs: number;
  /** Opening the store over directories it had never indexed (reconcile reads every incident.json). */
  reindexMs: number;
  /** Reopening with the index in place (reconcile only compares names). */
  reopenMs: number;
  queries: StoreQueryTiming[];
  /** Median ms of a durable write (incident.json + three ~20 KB artifacts, fsynced, indexed). */
  writeMedianMs: number;
}

const RULES = 20;
const COMMS = ['postgres', 'java', 'nginx', 'redis-server', 'node', 'python3', 'envoy', 'mysqld', 'kafka', 'etcd'];

/**
 * Index query time with `count` incidents: list pages served by the SQLite index (first page, a page
 * 9,000 rows deep through a cursor, filtered by rule, filtered by process), each the median of
 * `runs` calls, against a directory scan of the same store as baseline. The incidents are real
 * directories with incident.json written without fsync (the bench measures queries, not the
 * disk), and the store indexes them through its own reconcile at open.
 */
export async function runStoreBench(count = 10_000, runs = 200): Promise<StoreBenchResult> {
  mkdirSync(testOutput, { recursive: true });
  const stateDir = mkdtempSync(join(testOutput, 'store-bench-'));
  try {
    const incidents = join(stateDir, 'incidents');
    mkdirSync(incidents);
    const base = Date.UTC(2026, 0, 1);
    const records: IncidentRecord[] = [];
    for (let i = 0; i < count; i++) {
      const record = benchRecord(i, base + i * 60_000);
      records.push(record);
      mkdirSync(join(incidents, record.id));
      writeFileSync(join(incidents, record.id, 'incident.json'), JSON.stringify(record, null, 2));
    }
    const options = { maxAgeMs: Number.POSITIVE_INFINITY, maxIncidents: count * 2 };

    let started = performance.now();
    let store = await IncidentStore.open(stateDir, options);
    const reindexMs = performance.now() - started;
    if (store.reconciled.reindexed !== count) throw new Error(`reconcile indexed ${store.reconciled.reindexed} of ${count} incidents`);
    store.close();
    started = performance.now();
    store = await IncidentStore.open(stateDir, options);
    const reopenMs = performance.now() - started;

    try {
      const newestFirst = [...records].sort((a, b) => Date.parse(b.fired_at) - Date.parse(a.fired_at) || (b.id < a.id ? -1 : 1));
      const deepAt = Math.min(9000, count - 51);
      const deep = newestFirst[deepAt];
      const deepCursor = encodeCursor({ firedAtMs: Date.parse(deep.fired_at), id: deep.id });
      const queries: StoreQueryTiming[] = [];
      const measure = async (name: string, query: () => number, baseline?: () => Promise<number>) => {
        const rows = query();
        const timing: StoreQueryTiming = { name, rows, medianMs: median(runs, query) };
        if (baseline) timing.baselineMs = await medianAsync(Math.min(runs, 20), baseline);
        queries.push(timing);
      };
      await measure('first page (50)', () => store.list({ limit: 50 }).incidents.length, () => scanPage(incidents, 50));
      await measure(`page ${deepAt + 1}–${deepAt + 50} via cursor`, () => store.list({ limit: 50, cursor: deepCursor }).incidents.length, () => scanPage(incidents, 50, deep.id));
      await measure('rule = rule-7, first page', () => store.list({ limit: 50, rule: 'rule-7' }).incidents.length);
      await measure('rule = rule-7, deep page', () => store.list({ limit: 50, rule: 'rule-7', cursor: deepCursor }).incidents.length);
      await measure('process ~ "postg" (comm substring)', () => store.list({ limit: 50, process: 'postg' }).incidents.length);
      await measure('process = pid 4321', () => store.list({ limit: 50, process: 4321 }).incidents.length);
      await measure('process ~ "kafka", last 7 days', () => store.list({ limit: 50, process: 'kafka', from: base + (count - 7 * 24 * 60) * 60_000 }).incidents.length);

      const files: Array<[string, Uint8Array]> = ['stacks.folded', 'flamegraph.svg', 'profile.pb.gz'].map((name) => [name, new Uint8Array(20_000).fill(65)]);
      let next = count;
      const writeMedianMs = await medianAsync(30, async () => {
        await store.write(benchRecord(next, base + next++ * 60_000), files);
        return 1;
      });
      return { incidents: count, runs, reindexMs, reopenMs, queries, writeMedianMs };
    } finally {
      store.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function benchRecord(i: number, firedAtMs: number): IncidentRecord {
  const comm = COMMS[i % COMMS.length];
  const time = new Date(firedAtMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const rule = `rule-${i % RULES}`;
  return fixtureRecord({
    id: `${time}-${rule}-${i.toString(36).padStart(6, '0')}`,
    rule,
    firedAtMs,
    host: 'bench-host',
    process: { pid: 1000 + (i % 5000), comm, cmdline: `/usr/bin/${comm}` },
    value: 0.95,
    profile: { samples: 5940, stacks: 800, processes: 40, frequency: 99 },
    notifications: [{ target: 'oncall-slack', status: 'delivered' }],
  });
}

/**
 * The baseline: a page as the listing before the index served it (readdir, sort the ids, read
 * each incident.json of the page).
 */
async function scanPage(incidents: string, limit: number, after?: string): Promise<number> {
  const ids = (await readdir(incidents)).filter((name) => INCIDENT_ID_PATTERN.test(name)).sort().reverse();
  const start = after ? ids.findIndex((id) => id < after) : 0;
  let rows = 0;
  for (const id of ids.slice(start, start + limit)) {
    JSON.parse(await readFile(join(incidents, id, 'incident.json'), 'utf8'));
    rows++;
  }
  return rows;
}

function median(runs: number, run: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    run();
    times.push(performance.now() - started);
  }
  return middle(times);
}

async function medianAsync(runs: number, run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return middle(times);
}

function middle(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Prints the figures; bench/run.ts may call {@link runStoreBench} and print its own way. */
export function formatStoreBench(r: StoreBenchResult): string {
  const lines = [
    `incident store, ${r.incidents.toLocaleString()} incidents, median of ${r.runs} queries each:`,
    `  open over unindexed directories (reconcile re-indexes all): ${r.reindexMs.toFixed(0)} ms; reopen with the index: ${r.reopenMs.toFixed(0)} ms`,
  ];
  for (const q of r.queries) {
    const baseline = q.baselineMs === undefined ? '' : ` — directory scan ${q.baselineMs.toFixed(2)} ms, ratio index/scan ${(q.medianMs / q.baselineMs).toFixed(3)}`;
    lines.push(`  ${q.name.padEnd(36)} ${q.medianMs.toFixed(3).padStart(8)} ms (${q.rows} rows)${baseline}`);
  }
  lines.push(`  durable write (incident.json + 3 × 20 KB, fsynced, indexed): ${r.writeMedianMs.toFixed(2)} ms median`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatStoreBench(await runStoreBench()));
}
