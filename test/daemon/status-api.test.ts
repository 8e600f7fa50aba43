import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { repoRoot, runCli } from '../helpers/fixtures.js';
import { htmlXpath } from '../helpers/html.js';

// GET /api/status of the real tail2d is a DaemonStatus to the field (RunningDaemon.status()
// checks it with the model's schema and refuses fields the type does not name), and /status and
// `tail2 status` render it: a capture in flight is counted on both.

const running: RunningDaemon[] = [];

afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
});

const RULES = ['rules:', '  - { name: host-cpu, metric: cpu, above: 99%, for: 1h }', '  - { name: misses, metric: cache_miss_rate, above: 1000000/s, for: 30s }', ''].join('\n');

describe('GET /api/status', () => {
  it('is a DaemonStatus, and a capture in flight shows on /status and in tail2 status', async () => {
    const d = await startDaemon('status-api', RULES);
    running.push(d);
    // After the first collector round every part has something to say.
    const status = await d.waitFor('a collector round', async () => {
      const s = await d.status();
      return s.metrics.last_collect !== null ? s : undefined;
    });
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(status).toMatchObject({ version, host: hostname(), state_dir: join(d.dir, 'state') });
    expect(status.sampler).toMatchObject({ running: true, error: null, frequency: 99, configured_frequency: 99, backoff: null });
    expect(status.sampler.cpus).toBeGreaterThan(0);
    expect(status.rules).toMatchObject({ count: 2, file: d.rulesPath, last_reload: null });
    expect(status.self.pid).toBe(d.child.pid);
    expect(status.self.excluded_from_rules).toContain(d.child.pid);
    expect(status.store).toMatchObject({ incidents: 0, last_error: null, db_path: join(d.dir, 'state', 'index.sqlite'), incidents_dir: join(d.dir, 'state', 'incidents') });
    expect(status.notifications).toEqual({ enabled: false, reason: 'no notifiers configured in tail2.yaml' });
    expect(status.captures).toEqual({ in_flight: [], written: 0, degraded: 0, lost: 0, last_error: null });
    expect(htmlXpath(await (await fetch(`${d.baseUrl}/status`)).text(), "string(//*[@id='status-captures']//dt[.='In flight']/following-sibling::dd[1])")).toBe('0');

    // Where the RSS goes: once samples are held, every share and part has something, the shares
    // sum to the RSS they divide, and what the parts hold fits in it.
    const { memory } = await d.waitFor('samples and a tail2-reader in the memory breakdown', async () => {
      const s = await d.status();
      return s.memory.breakdown.held.samples_bytes > 0 && s.memory.breakdown.symbol_readers_rss_bytes > 0 ? s : undefined;
    });
    const { breakdown } = memory;
    const shares = Object.values(breakdown.rss);
    expect(shares.every((bytes) => bytes >= 0)).toBe(true);
    expect(shares.reduce((sum, bytes) => sum + bytes, 0)).toBe(breakdown.rss_bytes);
    // smaps and /proc/self/status are read at different moments: within a few MiB of each other.
    expect(Math.abs(breakdown.rss_bytes - memory.rss_bytes)).toBeLessThan(16 << 20);
    expect(breakdown.rss.v8_heap_bytes).toBeGreaterThan(0);
    expect(breakdown.rss.code_bytes).toBeGreaterThan(0);
    // The sampler's ring buffer (at least 1 MiB, its pages mapped twice).
    expect(breakdown.rss.bpf_maps_bytes).toBeGreaterThanOrEqual(2 << 20);
    expect(breakdown.v8_heap.used_bytes).toBeGreaterThan(0);
    expect(breakdown.v8_heap.used_bytes).toBeLessThanOrEqual(breakdown.v8_heap.total_bytes);
    expect(breakdown.held.stacks_bytes).toBeGreaterThan(0);
    expect(breakdown.held.processes_bytes).toBeGreaterThan(0);
    // The budget's `samples` part is the sample chunks, the stacks and the thread names, split here.
    expect(breakdown.held.samples_bytes + breakdown.held.stacks_bytes).toBe(memory.parts.samples);
    const held = Object.values(breakdown.held).reduce((sum, bytes) => sum + bytes, 0);
    expect(held).toBeLessThanOrEqual(breakdown.rss.v8_heap_bytes + breakdown.rss.array_buffers_bytes + breakdown.rss.unaccounted_bytes);
    const memoryText = await runCli(['status', '--url', d.baseUrl]);
    expect(memoryText.stdout).toMatch(/^ {10}RSS [\d.]+ MiB: V8 heap [\d.]+ MiB \([\d.]+ MiB used of [\d.]+ MiB\), array buffers .*, BPF maps [\d.]+ MiB, code and libraries [\d.]+ MiB, not accounted [\d.]+ MiB$/m);
    expect(memoryText.stdout).toMatch(/^ {10}held: samples [\d.]+ MiB, stacks [\d.]+ MiB, processes .*; symbol caches in tail2-reader [\d.]+ MiB \(their own RSS\)$/m);

    // A capture whose window ends in 30 s: in flight, its window pinned in the buffer.
    const askedAt = Date.now();
    const response = await fetch(`${d.baseUrl}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: '5s', after: '30s', reason: 'status test' }) });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const inFlight = (await d.status()).captures.in_flight;
    expect(inFlight).toEqual([{ id, rule: 'manual', at_ms: expect.any(Number), attempts: 0, pinned: true }]);
    expect(inFlight[0].at_ms).toBeGreaterThanOrEqual(askedAt);
    expect(inFlight[0].at_ms).toBeLessThanOrEqual(Date.now());

    const page = await (await fetch(`${d.baseUrl}/status`)).text();
    expect(htmlXpath(page, "string(//*[@id='status-captures']//dt[.='In flight']/following-sibling::dd[1])")).toBe('1');
    const text = await runCli(['status', '--url', d.baseUrl]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^captures: 0 written, 1 in flight$/m);

    // SIGTERM cuts the capture at now and writes it.
    expect(await d.stop('SIGTERM')).toBe(0);
    expect(readdirSync(join(d.dir, 'state', 'incidents'))).toContain(id);
  });

  it('tail2 status says what it cannot read in an answer that is not a DaemonStatus', async () => {
    // A daemon of another version, say: its status lacks parts this tail2 renders.
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: '0.0.9', host: 'db-1', uptime_s: 5 })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const text = await runCli(['status', '--url', url]);
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/^tail2: tail2d at http:\/\/127\.0\.0\.1:\d+ answered a status this tail2 \S+ cannot read: sampler: .*tail2 status --json/);
      // --json prints the answer as it came.
      const json = await runCli(['status', '--json', '--url', url]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ version: '0.0.9', host: 'db-1', uptime_s: 5 });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
