import { request as httpRequest, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { createHttpApp, listen, type DaemonApi } from '../../daemon/web/http-server.js';
import type { RuleStateView } from '../../daemon/model/rule-state.js';
import type { Rule } from '../../daemon/model/rule.js';
import { daemonStatusSchema, type DaemonStatus } from '../../daemon/model/daemon-status.js';
import { quietDaemonStatus, quietMemoryBreakdown, quietProbesStatus, quietUnwindingStatus } from '../helpers/daemon-status.js';
import { hasClass, htmlCount, htmlXpath } from '../helpers/html.js';
import { storeIncident } from '../helpers/stored-incident.js';

// The incident pages over HTTP, on a real server and a real store filled the way tail2d fills it,
// read back with libxml2's HTML parser. Untrusted text (a process named like an XSS payload, a
// C++ symbol full of markup characters) must come back escaped on every page that shows it.

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const ARTIFACT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

const XSS_COMM = '<svg/onload=alert(1)>';
const XSS_COMM_ESCAPED = '&lt;svg/onload=alert(1)&gt;';
const SYMBOL = 'operator<<(std::ostream&, Foo<"x">)';
const SYMBOL_ESCAPED = 'operator&lt;&lt;(std::ostream&amp;, Foo&lt;&#34;x&#34;&gt;)';

interface Running {
  base: string;
  port: number;
  errors: unknown[];
  close(): Promise<void>;
}

/** A server over `store` with a stand-in daemon; `overrides` replace parts of the API. */
async function start(store: IncidentStore, overrides: Partial<DaemonApi> = {}): Promise<Running> {
  const errors: unknown[] = [];
  const server: Server = await listen(
    createHttpApp({
      store,
      healthy: () => true,
      status: () => quietDaemonStatus(NOW),
      rules: () => [],
      capture: () => '20261125T030000Z-manual-abcdef',
      host: 'db-1',
      version: '0.1.0-test',
      onError: (error) => errors.push(error),
      // Relative times ("3 min ago") against a fixed now, however long the tests take.
      now: () => NOW,
      ...overrides,
    }),
    '127.0.0.1',
    0,
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { base: `http://127.0.0.1:${port}`, port, errors, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const openStore = (): Promise<IncidentStore> => IncidentStore.open(mkdtempSync(join(tmpdir(), 'tail2-pages-')));

/** GET without following redirects. */
const get = (url: string, headers: Record<string, string> = {}): Promise<Response> => fetch(url, { redirect: 'manual', headers });

/**
 * A request whose path and headers are sent byte for byte: fetch would resolve `..` and `%2e%2e`
 * before sending, and sets Host itself.
 */
function rawGet(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** No inline script, style attribute or event handler: the CSP would block them, so none may exist. */
function expectCspClean(html: string): void {
  expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/i);
  expect(html).not.toMatch(/<[^>]*\sstyle\s*=/i);
  expect(html).not.toMatch(/<[^>]*\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/<style[\s>]/i);
}

const NOW = Date.now();
const MIN = 60_000;

function rule(name: string, metric: Rule['metric'], scope: Rule['scope'], text: string): Rule {
  return {
    name,
    metric,
    scope,
    comparison: 'above',
    threshold: { value: 90, unit: 'percent', text },
    forMs: 30_000,
    capture: { beforeMs: 60_000, afterMs: 10_000 },
    cooldownMs: 15 * MIN,
    maxPerDay: 20,
    notify: ['oncall-slack'],
    location: { file: '/etc/tail2/rules.yaml', line: 3, col: 5 },
  };
}

const RULES: RuleStateView[] = [
  {
    rule: rule('db-spin', 'cpu', { kind: 'process', pattern: /^postgres/ }, '90%'),
    threshold: 0.9,
    instances: [
      { instance: { kind: 'process', pid: 4242, startTime: 1, comm: XSS_COMM, cmdline: 'x' }, key: 'process:4242:1', state: 'pending', pendingSinceMs: NOW - 12_000, lastFiredMs: null, cooldownUntilMs: null, firedToday: 0, lastValue: 0.97, lastSeenMs: NOW },
      { instance: { kind: 'process', pid: 77, startTime: 2, comm: 'postgres', cmdline: 'y' }, key: 'process:77:2', state: 'cooldown', pendingSinceMs: null, lastFiredMs: NOW - MIN, cooldownUntilMs: NOW + 14 * MIN, firedToday: 1, lastValue: 0.2, lastSeenMs: NOW },
    ],
  },
  { rule: rule('cache-spike', 'cache_miss_rate', { kind: 'system' }, '5000/s'), threshold: 5000, instances: [] },
];

/**
 * What Tail2Daemon.status() returns on a 4-CPU host without a PMU whose Redis is down, an hour
 * after the start, a capture in flight, the last rules reload failed.
 */
function daemonStatus(store: IncidentStore): DaemonStatus {
  return {
    version: '0.1.0',
    host: 'db-1',
    uptime_s: 3600,
    sampler: {
      running: true,
      error: null,
      frequency: 99,
      configured_frequency: 99,
      max_cpu_percent_of_core: 25,
      backoff: null,
      cpus: 4,
      samples: 1_425_600,
      lost: 12,
      dropped_in_userspace: 0,
      failed_batches: 0,
      stack_errors: { kernel: 0, user: 3 },
      page_faults: { mode: 'auto', on: true, reason: 'rule leak watches resident memory (sampling.page_faults.mode is auto)', period_faults: 256, samples: 310, error: null },
    },
    unwinding: quietUnwindingStatus(),
    probes: quietProbesStatus(),
    buffer: { samples: 237_600, span_s: 600, bytes: 3_800_000, max_bytes: 268_435_456, expired_samples: 10, evicted_early_samples: 0, dropped_samples: 0, stacks: 5000, processes: 120 },
    metrics: { last_collect: new Date(NOW - 1000).toISOString(), cost_ms: 2.5, processes: 120, cgroups: 9, process_source: 'task-iterator', early_rounds: 3, unavailable: [{ metric: 'cache_miss_rate', reason: 'no hardware PMU: cache-misses <not supported>' }] },
    rules: { count: 2, file: '/etc/tail2/rules.yaml', last_reload: { at_ms: NOW - MIN, ok: false, error: 'rules.yaml:3:5: unknown metric "cpuu"' }, unavailable: [{ rule: 'cache-spike', metric: 'cache_miss_rate', reason: 'no hardware PMU' }] },
    captures: { in_flight: [{ id: '20261125T030000Z-db-spin-4f2a9c', rule: 'db-spin', at_ms: NOW - 5000, attempts: 0, pinned: true }], written: 3, degraded: 0, lost: 0, last_error: null },
    self: { pid: 812, cpu_percent_of_core: 1.2, rss_bytes: 140_000_000, heap_used_bytes: 30_000_000, excluded_from_rules: [812, 830] },
    memory: {
      max_bytes: 268_435_456,
      bytes: 6_000_000,
      parts: { samples: 3_800_000, processes: 1_200_000, metric_history: 600_000, process_metrics: 300_000, rule_instances: 100_000 },
      evicted: { samples: 0, processes: 4, metric_history: 0, process_metrics: 0, rule_instances: 0 },
      rss_bytes: 140_000_000,
      heap_used_bytes: 30_000_000,
      breakdown: { ...quietMemoryBreakdown(), rss_bytes: 140_000_000, rss: { ...quietMemoryBreakdown().rss, unaccounted_bytes: 49_818_368 } },
    },
    symbols: {
      problems: { counts: { ENOENT: 3 }, recent: [] },
      quarantined: 0,
      snapshots: { taken: 900, gone: 3, skipped: 0, pending: 0 },
      readers: [
        { pid: 813, requests: 903, timeouts: 0, crashes: 0, queued: 0 },
        { pid: 814, requests: 40, timeouts: 0, crashes: 0, queued: 0 },
        { pid: 815, requests: 38, timeouts: 0, crashes: 0, queued: 0 },
      ],
    },
    store: store.stats(),
    notifications: {
      redis: {
        reachable: false,
        error: 'connect ECONNREFUSED /var/lib/tail2/redis/redis.sock',
        maxmemory_policy: 'allkeys-lru',
        policy_problem: 'maxmemory-policy is allkeys-lru: BullMQ loses jobs',
        where: 'unix:///var/lib/tail2/redis/redis.sock',
        managed: null,
        start_error: null,
      },
      outbox: 2,
      targets: [{ target: 'oncall-slack', waiting: 1, delayed: 1, active: 0, failed: 0, completed: 5 }],
      last_dispatch_error: null,
    },
    state_dir: '/var/lib/tail2',
  } satisfies DaemonStatus;
}

describe('incident pages without a token', () => {
  let store: IncidentStore;
  let server: Running;
  let status: () => DaemonStatus;
  // Oldest first: spin (XSS comm, markup symbol), leak (java), then a plain postgres spin.
  let spin: IncidentRecord;
  let leak: IncidentRecord;
  let latest: IncidentRecord;

  beforeAll(async () => {
    store = await openStore();
    spin = await storeIncident(store, {
      notify: ['oncall-slack', 'oncall-email'],
      comm: XSS_COMM,
      hotFunction: SYMBOL,
      firedAtMs: NOW - 3 * 3600_000,
      notifications: [
        { target: 'oncall-slack', status: 'delivered', attempts: 1, detail: 'slack C0123456 ts 1700000000.000100', delivered_at: new Date(NOW - 3 * 3600_000 + 2000).toISOString() },
        { target: 'oncall-email', status: 'retrying', attempts: 2, detail: 'connect ECONNREFUSED <smtp.internal>:25', next_attempt_at: new Date(NOW + 2 * MIN + 5000).toISOString() },
      ],
    });
    leak = await storeIncident(store, {
      notify: ['team-hook'],
      rule: 'memory-leak',
      comm: 'java',
      firedAtMs: NOW - 2 * 3600_000,
      notifications: [{ target: 'team-hook', status: 'failed', attempts: 1, detail: 'invalid_auth' }],
    });
    latest = await storeIncident(store, { notify: ['oncall-slack'], firedAtMs: NOW - 3 * MIN });
    status = () => daemonStatus(store);
    server = await start(store, { status: () => status(), rules: () => RULES });
  });

  afterAll(async () => {
    await server.close();
    store.close();
  });

  const page = async (path: string): Promise<string> => {
    const response = await get(`${server.base}${path}`);
    expect(response.status, path).toBe(200);
    return response.text();
  };

  it('serves every page as HTML with the CSP and the other security headers, and no inline code', async () => {
    for (const path of ['/', `/incidents/${spin.id}`, '/rules', '/status', '/login']) {
      const response = await get(`${server.base}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy'), path).toBe(PAGE_CSP);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      const html = await response.text();
      expectCspClean(html);
      // The layout: navigation, host, version.
      expect(htmlXpath(html, "string(//nav[@aria-label='Main'])").replace(/\s+/g, ' ').trim()).toBe('Incidents Rules Status');
      expect(htmlXpath(html, "string(//*[@class='site-host'])")).toBe('db-1');
      expect(html).toContain('tail2 0.1.0-test');
    }
    const css = await get(`${server.base}/static/app.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(css.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(await css.text()).toContain('prefers-color-scheme: dark');
  });

  it('shows process names and symbols only escaped, on every page that shows them', async () => {
    const pages = { list: await page('/'), incident: await page(`/incidents/${spin.id}`), rules: await page('/rules') };
    for (const [name, html] of Object.entries(pages)) {
      expect(html, name).not.toContain('<svg/onload');
      expect(html, name).toContain(XSS_COMM_ESCAPED);
    }
    expect(pages.incident).not.toContain('operator<<');
    expect(pages.incident).toContain(SYMBOL_ESCAPED);
    // Parsed back, the text is exactly what the program had: escaped once, not twice.
    expect(htmlXpath(pages.incident, "string(//*[@id='incident-data']/@data-comm)")).toBe(XSS_COMM);
    expect(htmlXpath(pages.incident, "string(//table[@id='top-functions']/tbody/tr[1]/td[1])")).toBe(SYMBOL);
    expect(htmlXpath(pages.incident, "string(//table[@id='processes']/tbody/tr[1]/td[2])")).toBe(XSS_COMM);
    expect(htmlXpath(pages.incident, 'string(//h1)')).toContain(XSS_COMM);
    expect(htmlXpath(pages.incident, "string(//*[@id='metric-chart']//*[local-name()='title'])")).toContain(XSS_COMM);
    expect(htmlXpath(pages.list, `string(//tr[.//a[@href='/incidents/${spin.id}']]//*[${hasClass('comm')}])`)).toBe(XSS_COMM);
    expect(htmlXpath(pages.rules, `string(//*[${hasClass('instance-what')}])`)).toContain(XSS_COMM);
    // A notification's error text is untrusted too (it quotes servers).
    expect(pages.incident).toContain('connect ECONNREFUSED &lt;smtp.internal&gt;:25');
    expect(pages.incident).not.toContain('<smtp.internal>');
  });

  it('gives the incident page everything it needs without JavaScript', async () => {
    const html = await page(`/incidents/${spin.id}`);
    const api = `/api/incidents/${spin.id}`;
    // The mount points of the client script, with the no-JS fallback image inside #flamegraph.
    const data = (name: string) => htmlXpath(html, `string(//div[@id='incident-data']/@data-${name})`);
    expect(htmlCount(html, "//div[@id='incident-data' and @hidden]")).toBe(1);
    expect([data('id'), data('samples-url'), data('fired-at'), data('held-since'), data('window-from'), data('window-to'), data('pid'), data('frequency')]).toEqual([
      spin.id,
      `${api}/samples.json.gz`,
      spin.fired_at,
      spin.window.held_since,
      spin.window.from,
      spin.window.to,
      '4242',
      '99',
    ]);
    expect(htmlCount(html, `//section[@id='flamegraph-section']/div[@id='flamegraph']/img[@src='${api}/flamegraph.png' and ${hasClass('flamegraph-png')}]`)).toBe(1);
    expect(htmlCount(html, "//section[@id='flamegraph-section']/div[@id='flamegraph-toolbar']")).toBe(1);
    expect(htmlCount(html, `//section[@id='timeline']/div[@id='heatmap']/p[${hasClass('js-only-note')}]`)).toBe(1);
    expect(htmlCount(html, "//section[@id='timeline']/p[@id='heatmap-selection']")).toBe(1);
    expect(htmlCount(html, "//button[@id='copy-link' and @type='button' and @hidden]")).toBe(1);
    expect(htmlCount(html, "//link[@rel='stylesheet' and @href='/static/incident.css']")).toBe(1);
    expect(htmlCount(html, "//script[@src='/static/incident.js' and @defer]")).toBe(1);
    for (const name of ['flamegraph.svg', 'process.svg', 'diff.svg']) expect(htmlCount(html, `//a[@href='${api}/${name}']`), name).toBeGreaterThanOrEqual(1);

    // Why it fired.
    const why = htmlXpath(html, "string(//*[@id='why'])").replace(/\s+/g, ' ');
    expect(why).toContain('cpu 99% of a core (above 90%)');
    expect(why).toContain('30 s held at every evaluation');
    expect(why).toContain(new Date(Date.parse(spin.window.held_since ?? '')).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
    expect(htmlCount(html, `//*[@id='why']//time[@datetime='${spin.fired_at}']`)).toBe(1);

    // The chart, drawn on the server: series, dashed threshold, fired marker, held region, unit.
    expect(htmlCount(html, "//*[@id='metric-chart']//*[local-name()='svg']")).toBe(1);
    const chart = (what: string) => htmlCount(html, `//*[@id='metric-chart']//*[local-name()='svg']//*[${hasClass(what)}]`);
    expect([chart('chart-line'), chart('chart-threshold'), chart('chart-fired'), chart('chart-held')]).toEqual([1, 1, 1, 1]);
    expect(htmlXpath(html, "string(//*[@id='metric-chart']//*[@class='chart-threshold']/@stroke-dasharray)")).not.toBe('');
    expect(htmlXpath(html, "string(//*[@id='metric-chart']//*[local-name()='svg'])")).toContain('% of a core');
    const points = htmlXpath(html, "string(//*[@id='metric-chart']//*[@class='chart-line']/@points)").split(' ');
    expect(points.length).toBe(spin.series[0].points.length);
    // The threshold (90% of a core) sits between the baseline (10%) and the firing value (99%).
    const ys = points.map((p) => Number(p.split(',')[1]));
    const thresholdY = Number(htmlXpath(html, "string(//*[@id='metric-chart']//*[@class='chart-threshold']/@y1)"));
    expect(Math.max(...ys)).toBeGreaterThan(thresholdY);
    expect(Math.min(...ys)).toBeLessThan(thresholdY);

    // Top functions with the change against the baseline, processes.
    expect(htmlXpath(html, "string(//table[@id='top-functions']/tbody/tr[1]/td[2])")).toBe('90.0%');
    expect(htmlXpath(html, "string(//table[@id='top-functions']/tbody/tr[1]/td[4]/span/@class)")).toBe('grew');
    expect(htmlXpath(html, "string(//table[@id='top-functions']/tbody/tr[1]/td[4])")).toMatch(/^\+\d+\.\d$/);
    expect(htmlXpath(html, "string(//table[@id='top-functions']/tbody/tr[td[1]='ExecScan']/td[4]/span/@class)")).toBe('shrank');
    expect(htmlXpath(html, "string(//table[@id='top-functions']/tbody/tr[1]/td[5])")).toBe('/usr/bin/fixture');
    expect(htmlXpath(html, "string(//table[@id='processes']/tbody/tr[1]/td[1])")).toBe('4242');
    expect(htmlXpath(html, "string(//table[@id='processes']/tbody/tr[1]/td[4])")).toBe('100.0%');

    // Downloads: one link per artifact, each saved under the incident's name and each served.
    const hrefs = htmlXpath(html, "//*[@id='downloads']//a/@href").match(/href="[^"]+"/g) ?? [];
    expect(hrefs.map((h) => h.slice(6, -1).split('/').pop())).toEqual(['profile.pb.gz', 'stacks.folded', 'speedscope.json', 'flamegraph.svg', 'flamegraph.png', 'samples.json.gz']);
    expect(htmlCount(html, "//*[@id='downloads']//a[not(@download)]")).toBe(0);
    expect(htmlXpath(html, "string(//*[@id='downloads']//a[1]/@download)")).toBe(`${spin.id}-profile.pb.gz`);
    for (const href of hrefs) expect((await get(`${server.base}${href.slice(6, -1)}`)).status, href).toBe(200);
    expect(htmlXpath(html, "string(//*[@id='commands'])")).toContain(`go tool pprof -http=: ${server.base}${api}/profile.pb.gz`);

    // Notification outcomes.
    const notifications = htmlXpath(html, "string(//*[@id='notifications'])").replace(/\s+/g, ' ');
    expect(notifications).toMatch(/oncall-slack delivered 1 slack C0123456/);
    expect(notifications).toMatch(/oncall-email retrying 2 connect ECONNREFUSED <smtp.internal>:25 next attempt .* \(in 2 min\)/);
  });

  it('lists incidents newest first with thumbnails, values and notification badges', async () => {
    const html = await page('/');
    expect(htmlCount(html, `//table[@id='incidents']//tr[${hasClass('incident')}]`)).toBe(3);
    const ids = [1, 2, 3].map((n) => htmlXpath(html, `string((//tr[${hasClass('incident')}])[${n}]//a[${hasClass('incident-link')}]/@href)`));
    expect(ids).toEqual([latest, leak, spin].map((r) => `/incidents/${r.id}`));
    const thumb = `(//tr[${hasClass('incident')}])[1]//img[${hasClass('thumb')}]`;
    expect(htmlXpath(html, `string(${thumb}/@src)`)).toBe(`/api/incidents/${latest.id}/flamegraph.png`);
    expect([htmlXpath(html, `string(${thumb}/@loading)`), htmlXpath(html, `string(${thumb}/@width)`), htmlXpath(html, `string(${thumb}/@height)`)]).toEqual(['lazy', '240', '120']);
    const first = htmlXpath(html, `string((//tr[${hasClass('incident')}])[1])`).replace(/\s+/g, ' ');
    expect(first).toContain('3 min ago');
    expect(first).toContain('cpu 99% of a core (above 90%)');
    expect(first).toContain('postgres pid 4242');
    expect(htmlXpath(html, `string((//tr[${hasClass('incident')}])[1]//time/@datetime)`)).toBe(latest.fired_at);
    const badge = (row: number, cls: string) => htmlXpath(html, `string((//tr[${hasClass('incident')}])[${row}]//li[${hasClass(cls)}])`).replace(/\s+/g, ' ');
    expect(badge(2, 'badge-failed')).toBe('team-hook failed: invalid_auth');
    expect(badge(3, 'badge-delivered')).toBe('oncall-slack delivered');
    expect(badge(3, 'badge-retrying')).toBe('oncall-email retrying, next in 2 min');
    expect(badge(1, 'badge-pending')).toBe('oncall-slack pending');
    // The filter form offers the rules the daemon knows.
    expect(htmlCount(html, "//form[@id='filters' and @method='get']")).toBe(1);
    expect(htmlXpath(html, "//datalist[@id='rule-names']/option/@value")).toMatch(/db-spin[\s\S]*cache-spike[\s\S]*manual/);
    expect(htmlCount(html, "//a[@id='older']")).toBe(0);
    expect(htmlCount(html, "//*[@id='empty-state']")).toBe(0);
  });

  it('filters by rule, process and time range', async () => {
    const listed = async (query: string): Promise<string[]> => {
      const html = await page(`/?${query}`);
      return (htmlXpath(html, `//tr[${hasClass('incident')}]//a[${hasClass('incident-link')}]/@href`).match(/\/incidents\/[^"]+/g) ?? []).map((h) => h.slice('/incidents/'.length));
    };
    expect(await listed('rule=memory-leak')).toEqual([leak.id]);
    expect(await listed('rule=db-spin')).toEqual([latest.id, spin.id]);
    expect(await listed('process=java')).toEqual([leak.id]);
    expect(await listed('process=4242')).toEqual([latest.id, leak.id, spin.id]);
    // datetime-local values carry no zone: the form says UTC, and they are read as UTC.
    const local = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    expect(await listed(`from=${local(NOW - 150 * MIN)}`)).toEqual([latest.id, leak.id]);
    expect(await listed(`to=${local(NOW - 150 * MIN)}`)).toEqual([spin.id]);
    expect(await listed(`from=${encodeURIComponent(new Date(NOW - 150 * MIN).toISOString())}&to=${local(NOW - 60 * MIN)}`)).toEqual([leak.id]);
    const html = await page('/?rule=memory-leak&process=java');
    expect(htmlXpath(html, "string(//form[@id='filters']//input[@name='rule']/@value)")).toBe('memory-leak');
    expect(htmlXpath(html, "string(//form[@id='filters']//input[@name='process']/@value)")).toBe('java');
  });

  it('pages through the store with its cursor, keeping the filters', async () => {
    const seen: string[] = [];
    let path = '/?limit=1';
    for (let pageNumber = 1; pageNumber <= 3; pageNumber++) {
      const html = await page(path);
      expect(htmlCount(html, `//tr[${hasClass('incident')}]`)).toBe(1);
      seen.push(htmlXpath(html, `string(//a[${hasClass('incident-link')}]/@href)`));
      expect(htmlCount(html, "//a[@id='first-page']"), `page ${pageNumber}`).toBe(pageNumber === 1 ? 0 : 1);
      const older = htmlXpath(html, "string(//a[@id='older']/@href)");
      if (pageNumber < 3) {
        expect(older).toMatch(/^\/\?limit=1&cursor=/);
        path = older;
      } else {
        expect(older).toBe('');
      }
    }
    expect(seen).toEqual([latest, leak, spin].map((r) => `/incidents/${r.id}`));

    const filtered = await page('/?rule=db-spin&limit=1');
    const older = htmlXpath(filtered, "string(//a[@id='older']/@href)");
    expect(older).toContain('rule=db-spin');
    const second = await page(older);
    expect(htmlXpath(second, `string(//a[${hasClass('incident-link')}]/@href)`)).toBe(`/incidents/${spin.id}`);
    expect(htmlCount(second, "//a[@id='older']")).toBe(0);
    expect(htmlXpath(second, "string(//a[@id='first-page']/@href)")).toBe('/?rule=db-spin&limit=1');
  });

  it('says when no incident matches the filters, and when a filter or cursor is unreadable', async () => {
    const html = await page('/?rule=no-such-rule');
    expect(htmlCount(html, `//*[@id='empty-state' and ${hasClass('empty-filtered')}]`)).toBe(1);
    expect(htmlXpath(html, "string(//*[@id='empty-state'])")).toContain('No incidents match these filters');
    expect(htmlCount(html, "//table[@id='incidents']")).toBe(0);

    const badCursor = await get(`${server.base}/?cursor=nonsense`);
    expect(badCursor.status).toBe(400);
    expect(await badCursor.text()).toContain('Start again from the first page');
    const badTime = await get(`${server.base}/?from=yesterday`);
    expect(badTime.status).toBe(400);
    expect(htmlXpath(await badTime.text(), "string(//*[@role='alert'])")).toContain('From and to must be times');
  });

  it('shows each rule with its definition, instance states and incidents', async () => {
    const html = await page('/rules');
    expect(htmlCount(html, `//table[@id='rules']//tr[${hasClass('rule')}]`)).toBe(2);
    const row = (name: string) => `//table[@id='rules']//tr[${hasClass('rule')}][.//*[${hasClass('rule-name')}]='${name}']`;
    const spinRow = htmlXpath(html, `string(${row('db-spin')})`).replace(/\s+/g, ' ');
    expect(spinRow).toContain('processes matching /^postgres/');
    expect(spinRow).toContain('above 90% for 30 s');
    expect(spinRow).toContain('1 min before, 10 s after');
    expect(spinRow).toContain('15 min, at most 20 a day');
    expect(spinRow).toContain('oncall-slack');
    expect(spinRow).toMatch(/pending since .* \(12 s ago\)/);
    expect(spinRow).toMatch(/postgres \(pid 77\) cooling down until .* \(in 14 min\)/);
    expect(spinRow).toContain('last 97% of a core');
    expect(htmlXpath(html, `string(${row('db-spin')}//a[${hasClass('rule-incidents')}]/@href)`)).toBe('/?rule=db-spin');
    // The newest incident of the rule, from the store.
    expect(htmlXpath(html, `string(${row('db-spin')}/td[last()]//a/@href)`)).toBe(`/incidents/${latest.id}`);
    const cacheRow = htmlXpath(html, `string(${row('cache-spike')})`).replace(/\s+/g, ' ');
    expect(cacheRow).toContain('no data on this host');
    expect(cacheRow).toContain('no instance seen yet');
    expect(cacheRow).toContain('never');
  });

  it('renders every part of the daemon status, a daemon in trouble too', async () => {
    const html = await page('/status');
    const fact = (id: string, label: string) => htmlXpath(html, `string(//*[@id='${id}']//dt[.='${label}']/following-sibling::dd[1])`);
    expect(fact('status-sampler', 'State')).toBe('sampling');
    expect(fact('status-sampler', 'Frequency')).toBe('99 Hz per CPU');
    expect(fact('status-sampler', 'Stacks the kernel could not read (user, kernel)')).toBe('3, 0');
    expect(fact('status-sampler', 'Samples per second')).toBe('396/s on average since start (expected 396/s: 99 Hz × 4 CPUs)');
    expect(fact('status-sampler', 'Lost in the kernel (ring buffer full)')).toBe('12');
    expect(fact('status-sampler', 'CPUs')).toBe('4');
    expect(fact('status-buffer', 'History held')).toBe('10 min');
    expect(fact('status-buffer', 'Memory')).toBe('3.6 MiB of 256 MiB (1%)');
    const row = (id: string, table: number) => [1, 2, 3].map((n) => htmlXpath(html, `string((//*[@id='${id}']//table)[${table}]/tbody/tr[1]/td[${n}])`));
    expect(row('status-metrics', 1)).toEqual(['cache_miss_rate', 'every instance', 'no hardware PMU: cache-misses <not supported>']);
    expect(row('status-metrics', 2)).toEqual(['cache-spike', 'cache_miss_rate', 'no hardware PMU']);
    expect(fact('status-metrics', 'Early rounds')).toBe('3 (the samples showed a rise towards a cpu rule)');
    expect(fact('status-metrics', 'Last reload')).toMatch(/\(1 min ago\): failed, previous rules kept: rules.yaml:3:5: unknown metric "cpuu"$/);
    expect(fact('status-store', 'Incidents')).toBe('3');
    expect(fact('status-store', 'Last error')).toBe('none');
    expect(fact('status-queue', 'Redis')).toBe('unreachable: connect ECONNREFUSED /var/lib/tail2/redis/redis.sock');
    expect(fact('status-queue', 'Eviction policy')).toBe('allkeys-lru: maxmemory-policy is allkeys-lru: BullMQ loses jobs');
    const cells = [1, 2, 3, 4, 5, 6].map((n) => htmlXpath(html, `string(//*[@id='status-queue']//tbody/tr[1]/td[${n}])`));
    expect(cells).toEqual(['oncall-slack', '1', '1', '0', '0', '5']);
    expect(fact('status-queue', 'Outbox (not yet delivered or failed)')).toBe('2');
    expect(html).toContain('no hardware PMU: cache-misses &lt;not supported&gt;');
    expect(htmlXpath(html, "string(//*[@id='status-queue']//dd[@class='tone-bad'][1])")).toMatch(/^unreachable/);

    expect(fact('status-captures', 'In flight')).toBe('1');
    expect(fact('status-captures', 'Written since start')).toBe('3');
    expect(fact('status-memory', 'Budget (buffer.max_memory)')).toBe('5.7 MiB of 256 MiB');
    // Where the RSS goes (the memory section's second table), and what the parts hold (third).
    const memoryRow = (table: number, tr: number) => [1, 2, 3].map((n) => htmlXpath(html, `string((//*[@id='status-memory']//table)[${table}]/tbody/tr[${tr}]/td[${n}])`));
    expect(htmlXpath(html, "string((//*[@id='status-memory']//h3)[2])")).toBe('Where the RSS goes (133.5 MiB)');
    expect(memoryRow(2, 1)).toEqual(['V8 heap (23 MiB used of 34 MiB)', '32 MiB', '24%']);
    expect(memoryRow(2, 4)).toEqual(['BPF maps (ring buffer, unwind maps)', '2 MiB', '2%']);
    expect(memoryRow(2, 6)).toEqual(['Not accounted (native allocations, stacks, freed memory kept)', '47.5 MiB', '36%']);
    expect(memoryRow(3, 7).slice(0, 2)).toEqual(['Unwind tables in memory', '3 MiB']);
    expect(fact('status-symbols', 'Process snapshots')).toBe('900 taken, 3 gone before read, 0 skipped (too many at once)');
    expect(fact('status-daemon', 'Up for')).toBe('1 h');
    // The fixture is what the type says, to the field: nothing more, nothing less.
    expect(daemonStatusSchema.parse(daemonStatus(store))).toEqual(daemonStatus(store));

    // A daemon in trouble: sampling stopped after a slow-down, the store closed, no notifiers.
    const quiet = quietDaemonStatus(NOW);
    status = () => ({
      ...quiet,
      sampler: { ...quiet.sampler, running: false, error: 'changing the sampling frequency to 49 Hz failed: EBUSY', frequency: 49, backoff: { frequency: 49, since: new Date(NOW - 5 * MIN).toISOString(), reason: 'tail2d used 31.0% of a core' } },
      store: null,
    });
    try {
      const troubled = await page('/status');
      const fact2 = (id: string, label: string) => htmlXpath(troubled, `string(//*[@id='${id}']//dt[.='${label}']/following-sibling::dd[1])`);
      expect(fact2('status-sampler', 'State')).toBe('stopped: changing the sampling frequency to 49 Hz failed: EBUSY');
      expect(fact2('status-sampler', 'Slowed down to protect the host')).toMatch(/^49 Hz instead of 99 Hz since .*: tail2d used 31\.0% of a core$/);
      expect(fact2('status-store', 'State')).toBe('closed or not reported');
      expect(fact2('status-captures', 'In flight')).toBe('0');
      expect(htmlXpath(troubled, "string(//*[@id='status-queue'])")).toContain('off: no notifiers configured in tail2.yaml');
    } finally {
      status = () => daemonStatus(store);
    }
  });

  it('serves artifacts with their content type, their own CSP and the right disposition', async () => {
    const artifact = (name: string) => get(`${server.base}/api/incidents/${spin.id}/${name}`);
    const svg = await artifact('flamegraph.svg');
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(svg.headers.get('content-security-policy')).toBe(ARTIFACT_CSP);
    expect(svg.headers.get('content-disposition')).toBe('inline');
    const text = await svg.text();
    expect(text).toContain('<script'); // the interactive one, allowed by its own CSP
    expect(text).toContain(XSS_COMM_ESCAPED);
    expect(text).not.toContain('<svg/onload');

    const png = await artifact('flamegraph.png');
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(png.headers.get('content-disposition')).toBe('inline');
    expect(png.headers.get('content-security-policy')).toBe(ARTIFACT_CSP);
    expect([...new Uint8Array(await png.arrayBuffer()).slice(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);

    const pprof = await artifact('profile.pb.gz');
    expect(pprof.headers.get('content-type')).toBe('application/gzip');
    expect(pprof.headers.get('content-disposition')).toBe(`attachment; filename="${spin.id}-profile.pb.gz"`);
    expect(pprof.headers.get('content-security-policy')).toBe(ARTIFACT_CSP);
    expect([...new Uint8Array(await pprof.arrayBuffer()).slice(0, 2)]).toEqual([0x1f, 0x8b]);

    for (const name of ['stacks.folded', 'speedscope.json', 'samples.json.gz']) {
      expect((await artifact(name)).headers.get('content-disposition'), name).toBe(`attachment; filename="${spin.id}-${name}"`);
    }
  });

  it('answers path traversal attempts with 404', async () => {
    const fetched = [
      '/api/incidents/..%2f..%2fetc%2fpasswd/flamegraph.svg',
      `/api/incidents/${spin.id}/..%2fincident.json`,
      `/api/incidents/${spin.id}/%2e%2e%2fincident.json`,
      `/api/incidents/${spin.id}/incident.json`,
      '/incidents/..%2f..%2fetc%2fpasswd',
      '/static/',
      '/static/nothing.css',
    ];
    for (const path of fetched) expect((await get(`${server.base}${path}`)).status, path).toBe(404);
    const raw = ['/incidents/../../etc/passwd', '/static/../package.json', '/static/%2e%2e/package.json', '/static/..%2fpackage.json', '/static/%2e%2e%2fpackage.json', '/static/..%5cpackage.json', '/static/.gitignore'];
    for (const path of raw) {
      const response = await rawGet(server.port, path);
      expect(response.status, path).toBe(404);
      expect(response.body, path).not.toContain('"devDependencies"');
      expect(response.body, path).not.toContain('root:x:0');
    }
  });

  it('answers only requests addressed to loopback, so a rebound DNS name cannot read it', async () => {
    for (const host of ['evil.example', `evil.example:${server.port}`, '127.0.0.1.evil.example', '10.0.0.1']) {
      for (const path of ['/', '/api/incidents', `/api/incidents/${spin.id}/flamegraph.png`]) {
        const response = await rawGet(server.port, path, { headers: { host } });
        expect(response.status, `${host} ${path}`).toBe(403);
        expect(response.body).not.toContain(spin.id);
      }
    }
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, '127.0.0.2']) {
      expect((await rawGet(server.port, '/api/incidents', { headers: { host } })).status, host).toBe(200);
    }
  });

  it('starts captures only from requests no other site can make a browser send', async () => {
    const capture = (headers: Record<string, string>, body: string) => rawGet(server.port, '/api/capture', { method: 'POST', headers, body });
    // What a cross-site form or no-cors fetch can send: refused.
    expect((await capture({ 'content-type': 'text/plain' }, '{"reason":"csrf"}')).status).toBe(415);
    expect((await capture({ 'content-type': 'application/x-www-form-urlencoded' }, 'reason=csrf')).status).toBe(415);
    expect((await capture({}, '')).status).toBe(415);
    // What the tail2 command and scripts send.
    expect((await capture({ 'content-type': 'application/json' }, '{"reason":"from a script"}')).status).toBe(202);
    expect((await capture({ 'x-tail2-capture': '1' }, '')).status).toBe(202);
  });

  it('answers unknown pages with a 404 page, unknown API routes with JSON, and failures without details', async () => {
    const missing = await get(`${server.base}/no-such-page`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^text\/html/);
    expect(htmlXpath(await missing.text(), 'string(//h1)')).toBe('Page not found');
    const incident = await get(`${server.base}/incidents/20261125T030000Z-gone-abcdef`);
    expect(incident.status).toBe(404);
    expect(htmlXpath(await incident.text(), 'string(//h1)')).toBe('No such incident');
    const api = await get(`${server.base}/api/nothing`);
    expect(api.status).toBe(404);
    expect(await api.json()).toEqual({ error: 'not found' });

    status = () => {
      throw new Error('secret detail /etc/tail2/tail2.yaml');
    };
    try {
      const failed = await get(`${server.base}/status`);
      expect(failed.status).toBe(500);
      const body = await failed.text();
      expect(htmlXpath(body, 'string(//h1)')).toBe('Something went wrong');
      expect(body).not.toContain('secret detail');
      expect(body).not.toMatch(/at .*\.ts:\d+/);
      const failedApi = await get(`${server.base}/api/status`);
      expect(failedApi.status).toBe(500);
      expect(await failedApi.json()).toEqual({ error: 'internal error' });
      expect(server.errors.map((e) => (e as Error).message)).toContain('secret detail /etc/tail2/tail2.yaml');
    } finally {
      status = () => daemonStatus(store);
    }
  });
});

describe('incident list of a fresh store', () => {
  let store: IncidentStore;
  let server: Running;

  beforeAll(async () => {
    store = await openStore();
    server = await start(store);
  });

  afterAll(async () => {
    await server.close();
    store.close();
  });

  it('tells a new user how to get a first incident', async () => {
    const response = await get(`${server.base}/`);
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(htmlCount(html, `//*[@id='empty-state' and ${hasClass('empty-none')}]`)).toBe(1);
    const text = htmlXpath(html, "string(//*[@id='empty-state'])");
    expect(text).toContain('No incidents yet');
    expect(text).toContain('/etc/tail2/rules.yaml');
    expect(text).toMatch(/rules:\n {2}- name: [a-z-]+.*\n {4}metric: cpu\n/);
    expect(text).toContain('tail2 capture');
    expect(text).toContain('--reason "first look"');
    expect(htmlCount(html, "//table[@id='incidents']")).toBe(0);
    expect(htmlCount(html, "//form[@id='filters']")).toBe(1);
    const rules = await (await get(`${server.base}/rules`)).text();
    expect(htmlXpath(rules, "string(//*[@id='empty-state'])")).toContain('No rules loaded');
  });
});

describe('incident pages with a token', () => {
  const token = 'a-token-of-twenty-chars';
  let store: IncidentStore;
  let server: Running;
  let record: IncidentRecord;
  const captures: string[] = [];

  beforeAll(async () => {
    store = await openStore();
    record = await storeIncident(store, { notify: [] });
    server = await start(store, {
      token,
      capture: (request) => {
        captures.push(request.reason);
        return '20261125T030000Z-manual-abcdef';
      },
    });
  });

  afterAll(async () => {
    await server.close();
    store.close();
  });

  const login = (fields: Record<string, string>, query = '') =>
    fetch(`${server.base}/login${query}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

  const sessionCookie = async (): Promise<string> => {
    const response = await login({ token });
    return (response.headers.get('set-cookie') ?? '').split(';')[0];
  };

  it('sends pages to the login page and answers the API with 401', async () => {
    const home = await get(`${server.base}/`);
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/login?next=%2F');
    const deep = await get(`${server.base}/incidents/${record.id}?view=1`);
    expect(deep.headers.get('location')).toBe(`/login?next=${encodeURIComponent(`/incidents/${record.id}?view=1`)}`);
    for (const path of ['/rules', '/status', '/no-such-page']) expect((await get(`${server.base}${path}`)).status, path).toBe(303);
    const api = await get(`${server.base}/api/incidents`);
    expect(api.status).toBe(401);
    expect((await api.json()) as { error: string }).toEqual({ error: expect.stringContaining('token') });
    expect((await get(`${server.base}/api/incidents/${record.id}/flamegraph.png`)).status).toBe(401);
    // These need nothing.
    expect((await get(`${server.base}/healthz`)).status).toBe(200);
    expect((await get(`${server.base}/static/app.css`)).status).toBe(200);
    const form = await get(`${server.base}/login?next=%2Frules`);
    expect(form.status).toBe(200);
    const html = await form.text();
    expect(htmlCount(html, "//form[@id='login' and @method='post' and @action='/login']//input[@name='token' and @type='password']")).toBe(1);
    expect(htmlXpath(html, "string(//form[@id='login']//input[@name='next']/@value)")).toBe('/rules');
    expectCspClean(html);
  });

  it('refuses a wrong token with 401 and sets a derived HttpOnly SameSite=Strict cookie for the right one', async () => {
    const wrong = await login({ token: `${token}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(htmlXpath(await wrong.text(), "string(//*[@role='alert'])")).toContain('not this tail2’s token');

    const right = await login({ token, next: `/incidents/${record.id}` });
    expect(right.status).toBe(303);
    expect(right.headers.get('location')).toBe(`/incidents/${record.id}`);
    const cookie = right.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^tail2_session=[0-9a-f]{64};/);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/; Secure/i); // plain http here
    expect(cookie).not.toContain(token);

    const session = cookie.split(';')[0];
    for (const path of ['/', `/incidents/${record.id}`, '/rules', '/status']) {
      const response = await get(`${server.base}${path}`, { cookie: session });
      expect(response.status, path).toBe(200);
    }
    expect((await get(`${server.base}/api/incidents`, { cookie: session })).status).toBe(200);
    expect((await get(`${server.base}/api/incidents/${record.id}/flamegraph.png`, { cookie: session })).status).toBe(200);
    // The Bearer token opens pages too; a forged cookie opens nothing.
    expect((await get(`${server.base}/rules`, { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await get(`${server.base}/`, { cookie: `tail2_session=${'0'.repeat(64)}` })).status).toBe(303);
    expect((await get(`${server.base}/`, { cookie: `tail2_session=${token}` })).status).toBe(303);
    // Logged in, the login page sends you on.
    expect((await get(`${server.base}/login?next=%2Fstatus`, { cookie: session })).headers.get('location')).toBe('/status');
  });

  it('redirects only to local paths after login', async () => {
    for (const next of ['//evil.com', 'https://evil.com', '/\\evil.com', '\\\\evil.com', 'javascript:alert(1)', '/\t/evil.com', ' //evil.com']) {
      const response = await login({ token, next });
      expect(response.status, next).toBe(303);
      expect(response.headers.get('location'), next).toBe('/');
    }
    const viaQuery = await login({ token }, '?next=%2F%2Fevil.com');
    expect(viaQuery.headers.get('location')).toBe('/');
    expect((await login({ token, next: '/?rule=db-spin' })).headers.get('location')).toBe('/?rule=db-spin');
    const form = await (await get(`${server.base}/login?next=${encodeURIComponent('//evil.com')}`)).text();
    expect(htmlXpath(form, "string(//form[@id='login']//input[@name='next']/@value)")).toBe('/');
  });

  it('lets a browser session start a capture only with the X-Tail2-Capture header', async () => {
    const session = await sessionCookie();
    const capture = (headers: Record<string, string>) =>
      fetch(`${server.base}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ reason: 'from the page' }) });
    expect((await capture({})).status).toBe(401);
    expect((await capture({ cookie: session })).status).toBe(403);
    expect(captures).toEqual([]);
    expect((await capture({ cookie: session, 'x-tail2-capture': '1' })).status).toBe(202);
    expect((await capture({ authorization: `Bearer ${token}` })).status).toBe(202);
    expect(captures).toEqual(['from the page', 'from the page']);
  });

  it('rate limits login attempts per address', async () => {
    // A server of its own: the limit would otherwise lock the other tests out for a minute.
    const own = await start(store, { token });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const response = await fetch(`${own.base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=guess-${i}` });
        statuses.push(response.status);
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses.slice(10)).toEqual([429, 429]);
      // Even the right token waits now.
      const right = await fetch(`${own.base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await own.close();
    }
  });
});
