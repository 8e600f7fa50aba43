import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, tail2dPath, type RunningDaemon } from '../helpers/daemon-process.js';
import { launchChromium, screenshot, watchPage, type PageIncidents } from '../helpers/browser.js';
import { fixtureSources } from '../helpers/fixtures.js';

// The incident pages in Debian's chromium, against the real tail2d, on an incident of a real
// process whose name and function names are HTML: the page must show them as text, run none of
// them, and still answer "what was this machine doing" — list, incident, heatmap, flamegraph.

const TOKEN = 'a-test-token-of-32-characters-xx';
const HOSTILE_COMM = '<svg/onload=ale'; // comm keeps 15 bytes of '<svg/onload=alert(1)>'
const HOSTILE_SYMBOL = '<img src=x onerror=alert(2)>"&amp;';

let daemon: RunningDaemon;
let fixture: ChildProcess;
let browser: Browser;
let context: BrowserContext;
let seen: PageIncidents;
let page: Page;
let incidentId: string;

const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  daemon = await startDaemon(
    'browser',
    [
      'rules:',
      '  - name: hostile-spin',
      '    metric: cpu',
      '    scope: { process: "onload" }',
      '    above: 50%',
      '    for: 6s',
      '    capture: { before: 20s, after: 2s }',
      '    cooldown: 1h',
    ].join('\n'),
    '',
    { web: `token: "${TOKEN}"` },
  );
  // No inlining: each named function keeps its own frame, as in a service's larger functions.
  fixture = spawn(process.execPath, ['--perf-basic-prof', '--no-turbo-inlining', join(fixtureSources, 'hostile-names.js'), '16', '3'], { stdio: 'ignore' });
  incidentId = await daemon.waitFor('an incident of the hostile process', async () => {
    const response = await fetch(`${daemon.baseUrl}/api/incidents`, { headers: auth });
    const body = (await response.json()) as { incidents: Array<{ id: string }> };
    return body.incidents[0]?.id;
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  seen = watchPage(page);
});

afterAll(async () => {
  fixture?.kill('SIGKILL');
  if (fixture?.pid) rmSync(`/tmp/perf-${fixture.pid}.map`, { force: true });
  await browser?.close();
  await daemon?.stop('SIGKILL');
});

describe('incident pages in a browser', () => {
  it('asks for the token, then lists the incident with the process name as text', async () => {
    await page.goto(`${daemon.baseUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await screenshot(page, 'login');
    await page.fill('form#login input[name="token"]', TOKEN);
    await Promise.all([page.waitForURL(`${daemon.baseUrl}/`), page.click('form#login [type="submit"]')]);
    const rows = page.locator('table#incidents tr.incident');
    expect(await rows.count()).toBe(1);
    await expect.poll(() => page.locator('table#incidents img.thumb').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
    expect(await rows.first().innerText()).toContain(HOSTILE_COMM);
    expect(await page.locator('svg[onload]').count()).toBe(0);
    await screenshot(page, 'incidents');
  });

  it('shows the incident: why it fired, the chart, tables, downloads and the flamegraph with its frames', async () => {
    await Promise.all([page.waitForURL(`**/incidents/${incidentId}`), page.click('table#incidents a.incident-link')]);
    expect(await page.locator('#why').innerText()).toMatch(/cpu/);
    expect(await page.locator('#metric-chart svg').count()).toBe(1);
    expect(await page.locator('table#top-functions').innerText()).toContain('lateSpinLoop');
    expect(await page.locator('table#processes').innerText()).toContain(HOSTILE_COMM);
    await page.locator('.frame[data-name*="lateSpinLoop"]').first().waitFor();
    expect(await page.locator('.frame').count()).toBeGreaterThan(5);
    // The hostile symbol is a frame whose name is text: no element was made from it.
    const names = await page.locator('.frame').evaluateAll((frames) => frames.map((f) => f.getAttribute('data-name') ?? ''));
    expect(names.some((name) => name.includes(HOSTILE_SYMBOL))).toBe(true);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('svg[onload]').count()).toBe(0);
    await screenshot(page, 'incident');
  });

  it('highlights the frames a search matches', async () => {
    await page.fill('#flame-search', 'lateSpinLoop');
    await expect.poll(() => page.locator('.frame.match').count()).toBeGreaterThan(0);
    const matched = await page.locator('.frame.match').evaluateAll((frames) => frames.map((f) => f.getAttribute('data-name') ?? ''));
    expect(matched.every((name) => name.includes('lateSpinLoop'))).toBe(true);
    expect(await page.locator('#flame-search-result').innerText()).toMatch(/\d+(\.\d+)?%/);
    await screenshot(page, 'incident-search');
    await page.fill('#flame-search', '');
  });

  it('redraws the flamegraph for a range selected on the heatmap', async () => {
    const early = page.locator('.frame[data-name*="earlyPhaseWork"]');
    expect(await early.count()).toBeGreaterThan(0);
    // The last columns of the window: the fixture ran only its late functions then.
    const cells = page.locator('#heatmap rect.heat-cell');
    const count = await cells.count();
    expect(count).toBeGreaterThan(10);
    const boxes = await cells.evaluateAll((rects) => rects.map((r) => ({ t0: Number(r.getAttribute('data-t0')), box: r.getBoundingClientRect().toJSON() as DOMRect })));
    boxes.sort((a, b) => a.t0 - b.t0);
    const lastT0 = boxes[boxes.length - 1].t0;
    const from = boxes.find((b) => b.t0 >= lastT0 - 3000)!;
    const to = boxes[boxes.length - 1];
    await page.mouse.move(from.box.x + from.box.width / 2, from.box.y + from.box.height / 2);
    await page.mouse.down();
    await page.mouse.move(to.box.x + to.box.width / 2, to.box.y + to.box.height / 2, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => page.locator('#heatmap-selection').innerText()).toMatch(/Selected/);
    await expect.poll(() => early.count()).toBe(0);
    expect(await page.locator('.frame[data-name*="lateSpinLoop"]').count()).toBeGreaterThan(0);
    await screenshot(page, 'incident-selection');
  });

  it('serves every download with its content type', async () => {
    const hrefs = await page.locator('#downloads a').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
    expect(hrefs.length).toBeGreaterThanOrEqual(5);
    const expected: Record<string, RegExp> = { '.svg': /image\/svg\+xml/, '.png': /image\/png/, '.gz': /application\/gzip/, '.folded': /text\/plain/, '.json': /application\/json/ };
    for (const href of hrefs) {
      const response = await page.request.get(new URL(href, daemon.baseUrl).toString());
      expect(response.status(), href).toBe(200);
      const extension = Object.keys(expected).find((ext) => href.endsWith(ext));
      expect(extension, href).toBeDefined();
      expect(response.headers()['content-type'], href).toMatch(expected[extension!]);
      expect((await response.body()).length, href).toBeGreaterThan(0);
    }
  });

  it('shows the rules and the status pages', async () => {
    await page.goto(`${daemon.baseUrl}/rules`);
    expect(await page.locator('table#rules').innerText()).toContain('hostile-spin');
    await screenshot(page, 'rules');
    await page.goto(`${daemon.baseUrl}/status`);
    for (const section of ['#status-sampler', '#status-buffer', '#status-metrics', '#status-store', '#status-queue']) {
      expect(await page.locator(section).count(), section).toBe(1);
    }
    expect(await page.locator('#status-metrics').innerText()).toMatch(/cache_miss|PMU/i);
    await screenshot(page, 'status');
    await page.goto(`${daemon.baseUrl}/?process=nothing-matches-this`);
    expect(await page.locator('#empty-state').count()).toBe(1);
    await screenshot(page, 'incidents-empty-filter');
  });

  it('ran no script from the hostile names, and the pages raised no errors or CSP violations', () => {
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
  });
});

describe('access', () => {
  it('answers 401 without the token and 404 to paths that try to leave the store', async () => {
    expect((await fetch(`${daemon.baseUrl}/api/incidents`)).status).toBe(401);
    expect((await fetch(`${daemon.baseUrl}/api/incidents/${incidentId}`)).status).toBe(401);
    for (const path of [
      `/api/incidents/${incidentId}/..%2f..%2f..%2fetc%2fpasswd`,
      `/api/incidents/${incidentId}/..%2fincident.json`,
      `/api/incidents/..%2f..%2fetc/flamegraph.svg`,
      `/api/incidents/${incidentId}/%2e%2e%2f%2e%2e%2findex.sqlite`,
      '/static/..%2f..%2fpackage.json',
    ]) {
      expect((await fetch(daemon.baseUrl + path, { headers: auth })).status, path).toBe(404);
    }
  });

  it('refuses to start listening beyond loopback without a token', () => {
    const config = join(daemon.dir, 'open.yaml');
    writeFileSync(config, 'state_dir: never\nweb: { listen: "0.0.0.0:18383" }\nrules_file: rules.yaml\n');
    const result = spawnSync(process.execPath, [tail2dPath, '--config', config], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/beyond loopback.*web\.token/);
  });
});
