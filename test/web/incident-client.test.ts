import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDiffFlamegraphSvg } from '../../daemon/formats/diff-flamegraph.js';
import { renderFlamegraphSvg } from '../../daemon/formats/flamegraph-svg.js';
import { encodeProfileSamples } from '../../daemon/formats/profile-samples.js';
import { ARTIFACT_CSP } from '../../daemon/web/security-headers.js';
import { sliceProfile } from '../../daemon/profile/slice-profile.js';
import type { Frame, SymbolizedProfile } from '../../daemon/profile/symbolized-profile.js';
import { launchChromium, screenshot, watchPage, type PageIncidents } from '../helpers/browser.js';
import { repoRoot } from '../helpers/fixtures.js';
import { buildProfile } from '../helpers/profile-fixture.js';

// The incident page's client script (views/client/, bundled into dist/static/incident.js by
// `npm run build`) against a static page that follows the server's contract, served with the
// page's CSP, in Debian's chromium. No daemon involved.

// The pages' policy (daemon/web/security-headers.ts): nothing inline, no eval, only our own files.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const XSS_FRAME = '<img src=x onerror=alert(1)>';
const XSS_COMM = '<svg/onload=alert(1)>';

/**
 * 70 s at 100 Hz, fired at +60 s, the condition held since +30 s. Per second of the window:
 * 0–5 early_only_fn · 5–20 ExecScan · 20–25 a JIT'd node handler · 25–28 pg_extension_spin ·
 * 28–30 a process with hostile names · 30–55 spin · 55–60 spin in the kernel · 60–65 ExecScan ·
 * 65–70 spin. Baseline (0–30 s): spin 10%, ExecScan 50%; trigger (30–70 s): spin 87.5%, ExecScan 12.5%.
 */
function incidentProfile(): SymbolizedProfile {
  const pg = { pid: 4242, comm: 'postgres' };
  const profile = buildProfile(
    [
      { frames: ['main', 'PostgresMain', 'early_only_fn'], ...pg, count: 500 },
      { frames: ['main', 'PostgresMain', 'ExecScan'], ...pg, count: 1500 },
      { frames: ['node::Start', { name: 'LazyCompile:*handler /app/server.js:10', kind: 'jit', module: '[jit]' }], pid: 999, comm: 'node', count: 500 },
      { frames: ['main', 'PostgresMain', 'pg_extension_spin'], ...pg, count: 300 },
      { frames: ['start_thread', { name: XSS_FRAME, kind: 'native', module: '/tmp/"><script>alert(2)</script>.so' }], pid: 666, comm: XSS_COMM, count: 200 },
      { frames: ['main', 'PostgresMain', 'pg_extension_spin'], ...pg, count: 2500 },
      { frames: ['main', 'PostgresMain', 'pg_extension_spin', { name: 'do_syscall_64', kind: 'kernel', module: '[kernel.kallsyms]' }], ...pg, count: 500 },
      { frames: ['main', 'PostgresMain', 'ExecScan'], ...pg, count: 500 },
      { frames: ['main', 'PostgresMain', 'pg_extension_spin'], ...pg, count: 500 },
    ],
    100,
  );
  // Same 100 samples in every second, unevenly spread inside it, so the heatmap has texture
  // while the counts of whole seconds (what the tests select) stay exact.
  const times = profile.samples.timeNs;
  for (let i = 0; i < times.length; i++) {
    const second = Math.floor(i / 100);
    times[i] = second * 1e9 + 1e9 * ((i % 100) / 100) ** (0.5 + ((second * 37) % 11) / 10);
  }
  return profile;
}

/** ~60,000 samples over 10,000 unique stacks of 30 processes, busier after +30 s. */
function largeProfile(): SymbolizedProfile {
  let seed = 42;
  const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const kinds = ['native', 'native', 'native', 'kernel', 'jit'] as const;
  const frames: Frame[] = Array.from({ length: 3000 }, (_, i) => {
    const kind = kinds[i % kinds.length];
    return { name: `${kind === 'kernel' ? 'k' : kind === 'jit' ? 'Js::' : 'fn_'}${i.toString(36)}_${'x'.repeat(i % 17)}`, kind, module: kind === 'kernel' ? '[kernel.kallsyms]' : `/usr/lib/lib${i % 40}.so` };
  });
  const stacks = Array.from({ length: 10_000 }, (_, s) => {
    const depth = 8 + Math.floor(random() * 30);
    const path: number[] = [];
    let at = s % 7;
    for (let d = 0; d < depth; d++) {
      // Few choices per level near the root, so stacks share prefixes as real ones do.
      at = (at * 31 + d * 7 + Math.floor(random() * (1 + d))) % frames.length;
      path.push(at);
    }
    return { frames: path, pid: 1000 + (s % 30), comm: `proc-${s % 30}` };
  });
  const total = 60_000;
  const times = Array.from({ length: total }, () => {
    const t = random();
    return (random() < 0.6 ? 30 + t * 40 : t * 70) * 1e9;
  }).sort((a, b) => a - b);
  return {
    kind: 'cpu',
    startTimeMs: Date.UTC(2026, 10, 25, 3, 0, 0),
    durationNs: 70e9,
    periodNs: 1e9 / 99,
    frequency: 99,
    frames,
    stacks,
    samples: { stack: Uint32Array.from({ length: total }, () => Math.floor(random() ** 2 * stacks.length)), timeNs: Float64Array.from(times) },
  };
}

/**
 * Frame names a catastrophic regex chokes on: long runs of `a` that end in something else, which
 * `(a+)+$` tries every split of (2^n steps) before failing. One name holds that pattern literally.
 */
const CATASTROPHIC = '(a+)+$';
function backtrackingProfile(): SymbolizedProfile {
  return buildProfile(
    [
      { frames: ['main', `${'a'.repeat(64)}!`], count: 300 },
      { frames: ['main', 'handler', `${'a'.repeat(4000)}!`], count: 300 },
      { frames: ['main', `parse_${CATASTROPHIC}_literally`], count: 400 },
    ],
    100,
  );
}

/**
 * Names of emoji (two UTF-16 code units each) after zero, one or two ASCII letters, in boxes of
 * many widths: wherever a zoom puts them, some labels are cut where a plain cut would keep half
 * of a pair.
 */
function emojiProfile(): SymbolizedProfile {
  // Under a busy sibling the names' boxes are too narrow for labels until `group` is zoomed into.
  return buildProfile(
    [
      { frames: ['main', 'busy'], count: 4000 },
      ...EMOJI_NAMES.map((name, i) => ({ frames: ['main', 'group', name], count: 5 + 4 * i })),
    ],
    100,
  );
}
const EMOJI_NAMES = Array.from({ length: 14 }, (_, i) => `${'ab'.slice(0, i % 3)}${'😀'.repeat(24 + i)}`);
/** A UTF-16 code unit that is half of a pair without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Where incidentProfile's condition began to hold (s from the window start). */
const HELD_S = 30;
const START_MS = Date.UTC(2026, 10, 25, 3, 0, 0);
const iso = (offsetS: number): string => new Date(START_MS + offsetS * 1000).toISOString();
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The incident page as the server renders it (the contract), trimmed to what the client uses. */
function incidentPage(id: string, pid: string, comm: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Incident ${escapeHtml(id)}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/test-page.css">
<link rel="stylesheet" href="/static/incident.css">
<script src="/static/incident.js" defer></script></head>
<body><h1>Incident ${escapeHtml(id)}</h1>
<div id="incident-data" hidden data-id="${escapeHtml(id)}" data-samples-url="/api/incidents/${escapeHtml(id)}/samples.json.gz"
  data-fired-at="${iso(60)}" data-held-since="${iso(HELD_S)}" data-window-from="${iso(0)}" data-window-to="${iso(70)}"
  data-pid="${escapeHtml(pid)}" data-comm="${escapeHtml(comm)}" data-frequency="100"></div>
<section id="timeline"><h2>Samples over time</h2><div id="heatmap"><p class="js-only-note">The heatmap needs JavaScript.</p></div><p id="heatmap-selection"></p></section>
<section id="flamegraph-section"><h2>Flamegraph</h2>
  <div id="flamegraph-toolbar"></div>
  <div id="flamegraph"><img src="/api/incidents/${escapeHtml(id)}/flamegraph.png" class="flamegraph-png" alt="Flamegraph of the whole window"></div>
</section>
<button id="copy-link" type="button" hidden>Copy link to this view</button>
</body></html>`;
}

// Stands in for app.css (the server side's), including its dark mode.
const TEST_PAGE_CSS =
  'body { font-family: system-ui, sans-serif; margin: 1rem 2rem; } section { margin: 1.5rem 0; }' +
  ' @media (prefers-color-scheme: dark) { body { background: #15171a; color: #e4e6ea; } }';
// 1×1 transparent PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let server: Server;
let base = '';
let browser: Browser;

beforeAll(async () => {
  const samples = new Map<string, Buffer>([
    ['inc-1', encodeProfileSamples(incidentProfile())],
    ['inc-big', encodeProfileSamples(largeProfile())],
    ['inc-redos', encodeProfileSamples(backtrackingProfile())],
  ]);
  // The server's renderings, for the page to be compared with.
  const profile = incidentProfile();
  const svgs = new Map<string, string>([
    ['/api/incidents/inc-redos/flamegraph.svg', renderFlamegraphSvg(backtrackingProfile())],
    ['/api/incidents/inc-1/flamegraph.svg', renderFlamegraphSvg(profile)],
    ['/api/incidents/inc-1/diff.svg', renderDiffFlamegraphSvg(sliceProfile(profile, HELD_S * 1e9, Infinity), sliceProfile(profile, 0, HELD_S * 1e9), { title: 'diff' })],
    ['/api/incidents/inc-emoji/flamegraph.svg', renderFlamegraphSvg(emojiProfile())],
  ]);
  const staticDir = join(repoRoot, 'views', 'static');
  const builtDir = join(repoRoot, 'dist', 'static');
  server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    response.setHeader('Content-Security-Policy', CSP);
    let match: RegExpMatchArray | null;
    if ((match = path.match(/^\/incidents\/([\w-]+)$/))) {
      const id = match[1];
      response.setHeader('Content-Type', 'text/html; charset=utf-8');
      // inc-nopid: inc-1's samples on the page of an incident whose rule watched no process.
      response.end(id === 'inc-nopid' ? incidentPage('inc-1', '', '') : incidentPage(id, '4242', XSS_COMM));
    } else if ((match = path.match(/^\/api\/incidents\/([\w-]+)\/samples\.json\.gz$/)) && samples.has(match[1])) {
      response.setHeader('Content-Type', 'application/gzip');
      response.end(samples.get(match[1]));
    } else if (svgs.has(path)) {
      // As the daemon serves artifacts: the SVG's own script runs under the artifact policy.
      response.setHeader('Content-Security-Policy', ARTIFACT_CSP);
      response.setHeader('Content-Type', 'image/svg+xml');
      response.end(svgs.get(path));
    } else if (path.endsWith('/flamegraph.png')) {
      response.setHeader('Content-Type', 'image/png');
      response.end(PNG);
    } else if (path === '/static/incident.js' || path === '/static/incident.js.map') {
      response.setHeader('Content-Type', path.endsWith('.js') ? 'text/javascript' : 'application/json');
      response.end(readFileSync(join(builtDir, path.slice('/static/'.length))));
    } else if (path === '/static/incident.css') {
      response.setHeader('Content-Type', 'text/css');
      response.end(readFileSync(join(staticDir, 'incident.css')));
    } else if (path === '/static/test-page.css') {
      response.setHeader('Content-Type', 'text/css');
      response.end(TEST_PAGE_CSS);
    } else {
      response.statusCode = 404;
      response.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

async function openIncident(path = '/incidents/inc-1', viewport = { width: 1280, height: 900 }): Promise<{ page: Page; seen: PageIncidents }> {
  const page = await browser.newPage({ viewport });
  const seen = watchPage(page);
  await page.goto(base + path);
  await page.locator('.frame').first().waitFor();
  return { page, seen };
}

const frame = (page: Page, name: string) => page.locator(`.frame[data-name="${name.replace(/["\\]/g, '\\$&')}"]`);

/** Drags across the heatmap from the cell starting at `fromMs` to the one starting at `toMs` (ms since the window start). */
async function dragCells(page: Page, fromMs: number, toMs: number): Promise<void> {
  const from = await page.locator(`rect.heat-cell[data-t0="${fromMs}"]`).boundingBox();
  const to = await page.locator(`rect.heat-cell[data-t0="${toMs}"]`).boundingBox();
  if (!from || !to) throw new Error('heatmap cells not found');
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(to.x + to.width / 2, to.y + to.height / 2, { steps: 6 });
  await page.mouse.up();
}

function expectClean(seen: PageIncidents): void {
  expect(seen.dialogs).toEqual([]);
  expect(seen.errors).toEqual([]);
}

describe('incident page client', () => {
  it('draws the heatmap and the flamegraph of the whole window, names as text only', async () => {
    const { page, seen } = await openIncident();
    await expect(frame(page, 'pg_extension_spin').count()).resolves.toBeGreaterThan(0);
    expect(await frame(page, 'early_only_fn').count()).toBe(1);
    expect(await frame(page, 'all').count()).toBe(1);
    // Processes side by side under the root, as "comm (pid)".
    expect(await page.locator('.frame.kind-process').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')).sort())).toEqual([
      `${XSS_COMM} (666)`,
      'node (999)',
      'postgres (4242)',
    ]);
    expect(await frame(page, 'do_syscall_64').getAttribute('class')).toContain('kind-kernel');
    expect(await frame(page, 'LazyCompile:*handler /app/server.js:10').getAttribute('class')).toContain('kind-jit');
    // 70 columns × 10 rows, every cell has samples.
    expect(await page.locator('rect.heat-cell').count()).toBe(700);
    expect(await page.locator('rect.heat-cell[data-t0="60000"] title').textContent()).toMatch(/^0\.0 s: \d+ samples?$/);
    expect(await page.locator('#heatmap .heat-marker.fired').count()).toBe(1);
    expect(await page.locator('#heatmap .heat-marker.held').count()).toBe(1);
    expect(await page.locator('#flamegraph > :not(#flame-details, .flame-frames, .flame-empty)').count()).toBe(0);
    expect(await page.locator('#copy-link').isVisible()).toBe(true);

    const spin = frame(page, 'pg_extension_spin').first();
    expect(await spin.getAttribute('title')).toBe('pg_extension_spin (/usr/bin/fixture) — 3,800 samples, 54.3%');

    // Hostile names: shown as text, never parsed.
    const hostile = frame(page, XSS_FRAME);
    expect(await hostile.count()).toBe(1);
    expect(await hostile.textContent()).toBe(XSS_FRAME);
    expect(await hostile.getAttribute('title')).toContain('"><script>alert(2)</script>.so');
    expect(await page.locator('#flamegraph img, #flamegraph svg, #flamegraph script').count()).toBe(0);
    expect(await page.locator('button[data-view="process"]').textContent()).toBe(`${XSS_COMM} (4242)`);
    await screenshot(page, 'incident-client');
    expectClean(seen);
    await page.close();
  });

  it('searches by text in any case, a|b for either, and counts each sample once', async () => {
    const { page, seen } = await openIncident();
    await page.fill('#flame-search', 'SPIN');
    await expect.poll(() => page.locator('#flame-search-result').textContent()).toBe('Matched: 54.3% of samples');
    expect(await page.locator('.frame.match').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-name')))])).toEqual(['pg_extension_spin']);
    // The spin frame and the kernel frame above it match: still 54.3%, not more.
    await page.fill('#flame-search', 'spin|do_syscall');
    await expect.poll(() => page.locator('.frame.match').count()).toBe(await frame(page, 'pg_extension_spin').count() + 1);
    expect(await page.locator('#flame-search-result').textContent()).toBe('Matched: 54.3% of samples');
    // Plain text: `*` is no special character.
    await page.fill('#flame-search', '*handler');
    await expect.poll(() => page.locator('#flame-search-result').textContent()).toBe('Matched: 7.1% of samples');
    expect(new URL(page.url()).hash).toBe('#q=*handler');
    await page.fill('#flame-search', 'no_such_function');
    await expect.poll(() => page.locator('#flame-search-result').textContent()).toBe('No match');
    expect(await page.locator('.frame.match').count()).toBe(0);
    expectClean(seen);
    await page.close();
  });

  it('opens a link with a catastrophic regex in #q= and stays responsive: the text is searched as text', async () => {
    const { page, seen } = await openIncident(`/incidents/inc-redos#q=${encodeURIComponent(CATASTROPHIC)}`);
    expect(await page.inputValue('#flame-search')).toBe(CATASTROPHIC);
    // A regex would still be backtracking on the 4000-character name: no answer would come, and
    // the wait (no limit of its own: the test's timeout) would fail the test.
    await page.waitForFunction(() => document.getElementById('flame-search-result')?.textContent !== '', undefined, { timeout: 0 });
    expect(await page.locator('#flame-search-result').textContent()).toBe('Matched: 40.0% of samples');
    expect(await page.locator('.frame.match').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual([`parse_${CATASTROPHIC}_literally`]);
    expect(await page.evaluate(() => document.querySelectorAll('.frame').length)).toBeGreaterThan(3);
    // Typed into the box, the same.
    await page.fill('#flame-search', '(a+)+b|HANDLER');
    await expect.poll(() => page.locator('#flame-search-result').textContent()).toBe('Matched: 30.0% of samples');
    expectClean(seen);
    await page.close();
  });

  it('opens the standalone SVG with ?s=(a+)+$ and stays responsive', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const seen = watchPage(page);
    await page.goto(`${base}/api/incidents/inc-redos/flamegraph.svg?s=${encodeURIComponent(CATASTROPHIC)}`);
    await page.waitForFunction(() => document.getElementById('matched')?.textContent?.trim() !== '', undefined, { timeout: 0 });
    expect(await page.evaluate(() => document.getElementById('matched')?.textContent)).toBe('Matched: 40.0%');
    expect(await page.evaluate(() => document.documentElement.getAttribute('data-match-color'))).toBeTruthy();
    const highlighted = await page.evaluate(() => {
      const color = document.documentElement.getAttribute('data-match-color');
      return [...document.querySelectorAll('#frames g')].filter((g) => g.querySelector('rect')?.getAttribute('fill') === color).map((g) => g.querySelector('title')?.textContent ?? '');
    });
    expect(highlighted).toHaveLength(1);
    expect(highlighted[0]).toContain(`parse_${CATASTROPHIC}_literally`);
    expectClean(seen);
    await page.close();
  });

  it('redraws the flamegraph from a range dragged on the heatmap', async () => {
    const { page, seen } = await openIncident();
    await dragCells(page, 60_000, 69_900);
    await expect.poll(() => frame(page, 'early_only_fn').count()).toBe(0);
    expect(await frame(page, 'pg_extension_spin').count()).toBe(1);
    expect(await frame(page, XSS_FRAME).count()).toBe(0);
    expect(await page.locator('#heatmap-selection').textContent()).toBe('Selected 0.0 s … +10.0 s (1,000 samples) · Clear selection');
    expect(await page.locator('rect.heat-cell.selected').count()).toBe(100);
    expect(new URL(page.url()).hash).toBe('#from=0&to=10');

    // Backwards drag over the first seconds: only the early function and ExecScan.
    await dragCells(page, 4_900, 0);
    await expect.poll(() => frame(page, 'early_only_fn').count()).toBe(1);
    expect(await frame(page, 'ExecScan').count()).toBe(0);
    expect(await page.locator('#heatmap-selection').textContent()).toContain(`Selected ${'\u2212'}60.0 s … ${'\u2212'}55.0 s (500 samples)`);

    // Click, then shift-click.
    await page.locator('rect.heat-cell[data-t0="25000"]').click();
    await page.locator('rect.heat-cell[data-t0="27900"]').click({ modifiers: ['Shift'] });
    await expect.poll(() => page.locator('#heatmap-selection').textContent()).toContain('(300 samples)');
    expect(await frame(page, 'PostgresMain').getAttribute('data-samples')).toBe('300');

    await page.click('#clear-selection');
    await expect.poll(() => frame(page, 'early_only_fn').count()).toBe(1);
    expect(new URL(page.url()).hash).toBe('');
    expectClean(seen);
    await page.close();
  });

  it('selects with the keyboard and with two taps', async () => {
    const { page, seen } = await openIncident();
    await page.locator('svg.heatmap').focus();
    // The cursor starts at the first cell: Enter there, five columns right, Enter.
    await page.keyboard.press('Enter');
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#heatmap-selection').textContent()).toBe(
      `Selected ${'\u2212'}60.0 s … ${'\u2212'}55.8 s (420 samples) · Clear selection`,
    );
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#clear-selection').count()).toBe(0);
    await page.close();

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, hasTouch: true });
    const touchPage = await context.newPage();
    const touchSeen = watchPage(touchPage);
    await touchPage.goto(base + '/incidents/inc-1');
    await touchPage.locator('.frame').first().waitFor();
    await touchPage.locator('rect.heat-cell[data-t0="65000"]').tap();
    await expect.poll(() => touchPage.locator('#heatmap-selection').textContent()).toContain('now pick the end cell');
    await touchPage.locator('rect.heat-cell[data-t0="69900"]').tap();
    await expect.poll(() => touchPage.locator('#heatmap-selection').textContent()).toContain('(500 samples)');
    expect(await frame(touchPage, 'ExecScan').count()).toBe(0);
    // Tap = zoom on the flamegraph.
    await frame(touchPage, 'PostgresMain').tap();
    await expect.poll(() => touchPage.locator('#flame-reset').isEnabled()).toBe(true);
    expectClean(seen);
    expectClean(touchSeen);
    await context.close();
  });

  it('switches between all processes, the triggering process and the diff', async () => {
    const { page, seen } = await openIncident();
    await page.click('button[data-view="process"]');
    await expect.poll(() => frame(page, XSS_FRAME).count()).toBe(0);
    expect(await page.locator('.frame.kind-process').evaluateAll((els) => els.map((e) => e.getAttribute('data-name')))).toEqual(['postgres (4242)']);
    expect(await page.locator('button[data-view="process"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('button[data-view="all"]').getAttribute('aria-pressed')).toBe('false');
    // The heatmap follows: seconds 20–30 had no postgres samples.
    expect(await page.locator('rect.heat-cell[data-t0="22000"]').count()).toBe(0);

    await page.click('button[data-view="diff"]');
    await expect.poll(() => frame(page, 'pg_extension_spin').getAttribute('class')).toContain('diff-grew');
    expect(await frame(page, 'ExecScan').getAttribute('class')).toContain('diff-shrank');
    expect(await frame(page, 'early_only_fn').count()).toBe(0);
    expect(await frame(page, 'pg_extension_spin').getAttribute('title')).toContain('before 10.0% → now 87.5% (+77.5 points)');
    const [r, g, b] = (await frame(page, 'pg_extension_spin').evaluate((e) => getComputedStyle(e).backgroundColor)).match(/\d+/g)!.map(Number);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(100);
    expect(b).toBeLessThan(100);
    await screenshot(page, 'incident-client-diff');

    // With a selection, the selection is the trigger window: 60–70 s has ExecScan at 50%, as the baseline.
    await dragCells(page, 60_000, 69_900);
    await expect.poll(() => frame(page, 'ExecScan').getAttribute('class')).toContain('diff-unchanged');
    expect(await frame(page, 'pg_extension_spin').getAttribute('class')).toContain('diff-grew');
    expectClean(seen);
    await page.close();
  });

  it('zooms into a frame and restores view, range, search and zoom from the URL', async () => {
    const { page, seen } = await openIncident();
    await page.click('button[data-view="diff"]');
    await dragCells(page, 30_000, 59_900);
    await page.fill('#flame-search', 'spin');
    await frame(page, 'PostgresMain').click();
    await expect.poll(() => page.locator('#flame-reset').isEnabled()).toBe(true);
    const width = async (name: string) => (await frame(page, name).first().boundingBox())!.width;
    const full = (await page.locator('.flame-frames').boundingBox())!.width;
    expect(await width('PostgresMain')).toBeCloseTo(full, 0);
    expect(await frame(page, 'main').getAttribute('class')).toContain('dimmed');
    expect(await frame(page, 'node (999)').count()).toBe(0);
    await expect.poll(() => new URL(page.url()).hash).toBe('#view=diff&from=-30&to=0&q=spin&zoom=postgres+%284242%29%3Bmain%3BPostgresMain');

    await page.reload();
    await page.locator('.frame').first().waitFor();
    expect(await page.locator('button[data-view="diff"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.inputValue('#flame-search')).toBe('spin');
    await expect.poll(() => page.locator('#flame-search-result').textContent()).toBe('Matched: 100.0% of samples');
    expect(await page.locator('#heatmap-selection').textContent()).toContain(`Selected ${'\u2212'}30.0 s … 0.0 s (3,000 samples)`);
    expect(await width('PostgresMain')).toBeCloseTo(full, 0);
    expect(await frame(page, 'main').getAttribute('class')).toContain('dimmed');

    await page.emulateMedia({ colorScheme: 'dark' });
    await frame(page, 'pg_extension_spin').hover();
    await screenshot(page, 'incident-client-zoom-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.click('#flame-reset');
    await expect.poll(() => page.locator('#flame-reset').isDisabled()).toBe(true);
    expect(new URL(page.url()).hash).toBe('#view=diff&from=-30&to=0&q=spin');

    // A link to an anchor of the page is not view state: the view stays as it was.
    await page.evaluate(() => (location.hash = '#flamegraph-section'));
    await expect.poll(() => new URL(page.url()).hash).toBe('#flamegraph-section');
    expect(await page.locator('button[data-view="diff"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.inputValue('#flame-search')).toBe('spin');
    // Edited by hand: followed.
    await page.evaluate(() => (location.hash = '#view=process'));
    await expect.poll(() => page.locator('button[data-view="process"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.inputValue('#flame-search')).toBe('');
    expect(await page.locator('#clear-selection').count()).toBe(0);
    expectClean(seen);
    await page.close();
  });

  it('copies the link to the view', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await context.newPage();
    const seen = watchPage(page);
    await page.goto(base + '/incidents/inc-1#view=process&q=Exec');
    await page.locator('.frame').first().waitFor();
    await page.click('#copy-link');
    await expect.poll(() => page.locator('#copy-link').textContent()).toBe('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(base + '/incidents/inc-1#view=process&q=Exec');
    expectClean(seen);
    await context.close();

    // Plain http on a LAN address has no clipboard API: the link is put in a field, selected.
    const bare = await browser.newPage();
    const bareSeen = watchPage(bare);
    await bare.addInitScript(() => Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined }));
    await bare.goto(base + '/incidents/inc-1#q=spin');
    await bare.locator('.frame').first().waitFor();
    await bare.click('#copy-link');
    await expect.poll(() => bare.locator('#copy-link').textContent()).toMatch(/^(Copied|Press Ctrl\+C to copy)$/);
    expect(await bare.inputValue('#copy-link-url')).toBe(base + '/incidents/inc-1#q=spin');
    expect(await bare.evaluate(() => (document.activeElement as HTMLInputElement).id)).toBe('copy-link-url');
    expectClean(bareSeen);
    await bare.close();
  });

  it('disables the process view without a pid and keeps the still image when samples fail to load', async () => {
    const { page, seen } = await openIncident('/incidents/inc-nopid#view=process');
    expect(await page.locator('button[data-view="process"]').isDisabled()).toBe(true);
    expect(await page.locator('button[data-view="all"]').getAttribute('aria-pressed')).toBe('true');
    expectClean(seen);
    await page.close();

    const failing = await browser.newPage();
    const failingSeen = watchPage(failing);
    await failing.goto(base + '/incidents/inc-missing');
    await failing.locator('.flame-error').waitFor();
    expect(await failing.locator('img.flamegraph-png').count()).toBe(1);
    expect(await failing.locator('.flame-error').textContent()).toContain('HTTP 404');
    expect(await failing.locator('.heatmap-error').count()).toBe(1);
    // The one error is the browser's own line about the 404.
    expect(failingSeen.errors.filter((e) => !e.includes('404'))).toEqual([]);
    expect(failingSeen.dialogs).toEqual([]);
    await failing.close();
  });

  it('renders 60,000 samples of 10,000 stacks, and fits a phone', async () => {
    const { page, seen } = await openIncident('/incidents/inc-big');
    const drawnAt = await page.evaluate(() => performance.now());
    const frames = await page.locator('.frame').count();
    expect(frames).toBeGreaterThan(100);
    await page.click('button[data-view="diff"]');
    await page.locator('.frame.diff-grew').first().waitFor();
    const toggled = await page.evaluate(() => performance.now());
    console.log(`60k samples: first flamegraph ${Math.round(drawnAt)} ms after navigation start (${frames} frames); diff view by ${Math.round(toggled - drawnAt)} ms later`);
    await screenshot(page, 'incident-client-large');
    await page.close();

    const phone = await openIncident('/incidents/inc-1#view=process', { width: 390, height: 844 });
    const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await screenshot(phone.page, 'incident-client-phone');
    expectClean(seen);
    expectClean(phone.seen);
    await phone.page.close();
  });
});

describe('the same look as the server renderers', () => {
  /** `rgb(r, g, b)` as `#rrggbb`. */
  const hex = (css: string): string => `#${(css.match(/\d+/g) ?? []).slice(0, 3).map((v) => Number(v).toString(16).padStart(2, '0')).join('')}`;

  /** Every frame box of the server's SVG open in `page`: name and fill, as the renderer wrote them. */
  const svgFrames = (page: Page): Promise<Array<[string, string]>> =>
    page.evaluate(() =>
      [...document.querySelectorAll('#frames > g')].map((g): [string, string] => [
        (g.querySelector('title')?.textContent ?? '').slice(0, Number(g.getAttribute('data-name-length'))),
        g.querySelector('rect')?.getAttribute('fill') ?? '',
      ]),
    );
  const svgLegend = (page: Page): Promise<Array<[string, string]>> =>
    page.evaluate(() => [...document.querySelectorAll('#legend rect')].map((r): [string, string] => [r.nextElementSibling?.textContent ?? '', r.getAttribute('fill') ?? '']));
  /** Every frame the incident page drew: name, kind and the colour it was painted in. */
  const pageFrames = async (page: Page): Promise<Array<{ name: string; kind: string; color: string }>> =>
    (
      await page.locator('.frame').evaluateAll((frames) =>
        frames.map((f) => ({ name: f.getAttribute('data-name') ?? '', kind: /\bkind-(\w+)/.exec(f.className)?.[1] ?? '', color: (f as HTMLElement).style.backgroundColor })),
      )
    ).map((f) => ({ ...f, color: hex(f.color) }));
  const pageLegend = async (page: Page): Promise<Array<[string, string]>> =>
    (await page.locator('.flame-legend-item').evaluateAll((items) => items.map((i) => [i.textContent ?? '', getComputedStyle(i.querySelector('.swatch')!).backgroundColor]))).map(
      ([label, color]) => [label, hex(color)] as [string, string],
    );

  it('paints frames, legends and search matches in the colours of the server’s SVG and diff flamegraphs', async () => {
    const svgPage = await browser.newPage();
    const svgSeen = watchPage(svgPage);
    await svgPage.goto(`${base}/api/incidents/inc-1/flamegraph.svg`);
    const serverFill = new Map(await svgFrames(svgPage));
    const serverLegend = await svgLegend(svgPage);
    const serverMatch = await svgPage.evaluate(() => document.documentElement.getAttribute('data-match-color'));
    await svgPage.goto(`${base}/api/incidents/inc-1/diff.svg`);
    const serverDiffFill = new Map(await svgFrames(svgPage));
    const serverDiffLegend = await svgLegend(svgPage);
    expectClean(svgSeen);
    await svgPage.close();

    const { page, seen } = await openIncident();
    // A process is "comm (pid)" on the page and "comm" in the SVG, and its shade follows the
    // name: processes are compared in the diff, whose colours follow the change alone.
    const frames = (await pageFrames(page)).filter((f) => f.kind !== 'process');
    expect(new Set(frames.map((f) => f.kind))).toEqual(new Set(['root', 'native', 'jit', 'kernel']));
    expect(frames.length).toBeGreaterThan(8);
    for (const f of frames) expect(f.color, f.name).toBe(serverFill.get(f.name));
    expect(new Set(frames.map((f) => f.color)).size).toBeGreaterThan(5);
    expect(serverLegend.length).toBe(6);
    expect(await pageLegend(page)).toEqual(serverLegend);

    await page.fill('#flame-search', 'spin');
    await expect.poll(() => page.locator('.frame.match').count()).toBeGreaterThan(0);
    expect(hex(await page.locator('.frame.match').first().evaluate((f) => getComputedStyle(f).backgroundColor))).toBe(serverMatch);
    await page.fill('#flame-search', '');

    await page.click('button[data-view="diff"]');
    await expect.poll(() => frame(page, 'pg_extension_spin').getAttribute('class')).toContain('diff-grew');
    const diff = await pageFrames(page);
    // The same boxes (the trigger window's), each in the server's colour for its change.
    expect(diff.length).toBe(serverDiffFill.size);
    for (const f of diff) expect(f.color, f.name).toBe(serverDiffFill.get(f.kind === 'process' ? f.name.replace(/ \(\d+\)$/, '') : f.name));
    expect(new Set(diff.map((f) => f.color)).size).toBeGreaterThan(3);
    expect(await pageLegend(page)).toEqual(serverDiffLegend);
    expectClean(seen);
    await page.close();
  });

  it('relabels zoomed SVG boxes without ever cutting an emoji in half', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const seen = watchPage(page);
    await page.goto(`${base}/api/incidents/inc-emoji/flamegraph.svg`);
    const labels = (): Promise<Array<{ name: string; text: string; width: number; charWidth: number }>> =>
      page.evaluate(() => {
        const charWidth = Number(document.documentElement.getAttribute('data-char-width'));
        return [...document.querySelectorAll('#frames > g')]
          .filter((g) => g.getAttribute('display') !== 'none')
          .map((g) => ({
            name: (g.querySelector('title')?.textContent ?? '').slice(0, Number(g.getAttribute('data-name-length'))),
            text: g.querySelector('text')?.textContent ?? '',
            width: Number(g.querySelector('rect')?.getAttribute('width')),
            charWidth,
          }));
      });
    const emoji = async (): Promise<Array<{ name: string; text: string; width: number; charWidth: number }>> => (await labels()).filter((l) => EMOJI_NAMES.includes(l.name));
    // Drawn by the server: the names' boxes are too narrow for any label.
    expect((await emoji()).filter((l) => l.text !== '')).toEqual([]);

    await page.locator('#frames > g').filter({ has: page.locator('title', { hasText: /^group \(/ }) }).locator('rect').click();
    await expect.poll(async () => (await emoji()).filter((l) => l.text !== '').length).toBeGreaterThan(10);
    let cut = 0;
    let guarded = 0;
    for (const { name, text, width, charWidth } of await emoji()) {
      expect(text, name).not.toMatch(LONE_SURROGATE);
      if (text === '' || text === name) continue;
      cut++;
      expect(text.endsWith('..'), text).toBe(true);
      expect(name.startsWith(text.slice(0, -2)), text).toBe(true);
      if (LONE_SURROGATE.test(name.slice(0, Math.floor((width - 6) / charWidth) - 2))) guarded++;
    }
    // Labels were cut, and some where a plain cut would have split a pair.
    expect(cut).toBeGreaterThan(10);
    expect(guarded).toBeGreaterThan(2);
    expectClean(seen);
    await page.close();
  });
});
