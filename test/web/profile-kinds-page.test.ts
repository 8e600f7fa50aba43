import { spawn, type ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { launchChromium, screenshot, watchPage, type PageIncidents } from '../helpers/browser.js';
import { buildCFixture } from '../helpers/fixtures.js';

// An incident with two kinds of profile in Debian's chromium, against the real tail2d: a rule on
// rss_growth over a process that leaks (test/fixtures/programs/leaker.c makes its memory resident
// in touch()), so the window holds CPU samples and page faults. The page opens on what the rule is
// about — the page faults, in bytes — and switches to CPU and back.

let daemon: RunningDaemon;
let leaker: ChildProcess;
let browser: Browser;
let page: Page;
let seen: PageIncidents;
let incidentId: string;

beforeAll(async () => {
  daemon = await startDaemon(
    'profile-kinds-page',
    ['rules:', '  - name: leak', '    metric: rss_growth', '    scope: { process: "^leaker$" }', '    above: 200MiB/min', '    for: 3s', '    capture: { before: 10s, after: 1s }', '    cooldown: 1h'].join('\n'),
    // The page-fault story alone: with its allocator probed, the page would open on what it holds.
    'sampling: { allocations: { mode: off } }\n',
  );
  leaker = spawn(buildCFixture('leaker'), ['20', '1500'], { stdio: 'ignore' });
  incidentId = await daemon.waitFor('the leak incident', async () => {
    const body = (await (await fetch(`${daemon.baseUrl}/api/incidents`)).json()) as { incidents: Array<{ id: string }> };
    return body.incidents[0]?.id;
  }, 90_000);
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  seen = watchPage(page);
});

afterAll(async () => {
  leaker?.kill('SIGKILL');
  await browser?.close();
  await daemon?.stop('SIGKILL');
});

describe('an incident with several kinds of profile', () => {
  it('opens a memory rule’s incident on its page faults, weighed in bytes', async () => {
    await page.goto(`${daemon.baseUrl}/incidents/${incidentId}`);
    const kinds = page.locator('#profile-kinds a');
    expect(await kinds.allInnerTexts()).toEqual(['CPU (samples)', 'Page faults (bytes)']);
    expect(await page.locator('#profile-kinds a[aria-current="page"]').innerText()).toBe('Page faults (bytes)');
    expect(await page.locator('#timeline h2').innerText()).toBe('Page faults over time');
    // The interactive flamegraph is of the page faults: touch() made the memory resident.
    await page.locator('.frame[data-name="touch"]').first().waitFor();
    const tip = await page.locator('.frame[data-name="touch"]').first().evaluate((frame) => frame.querySelector('title')?.textContent ?? frame.getAttribute('title') ?? '');
    expect(tip).toMatch(/^touch.* — [\d.]+ MiB, [\d.]+%/);
    expect(await page.locator('#flamegraph-toolbar').innerText()).toMatch(/[\d.]+ MiB/);
    expect(await page.locator('#heatmap').innerText()).toMatch(/MiB \(max\) per/);
    // The summary is the page faults' too: the leaker's bytes, memset (called by touch) on top.
    expect(await page.locator('#functions p.muted').first().innerText()).toMatch(/^By self share of page faults \(bytes\), for leaker \(pid \d+\), as shares of its own bytes: [\d.]+ MiB\.$/);
    expect(await page.locator('table#top-functions').innerText()).toContain('__memset');
    expect(await page.locator('table#processes').innerText()).toMatch(/leaker\s+[\d.]+ MiB/);
    expect(await page.locator('#downloads').innerText()).toContain('pprof profile');
    expect(await page.locator('#downloads a[download$="page_faults.profile.pb.gz"]').count()).toBe(1);
    await screenshot(page, 'incident-page-faults');
  });

  it('switches to the CPU profile and back', async () => {
    await Promise.all([page.waitForURL(`**/incidents/${incidentId}?profile=cpu`), page.click('#profile-kinds a:has-text("CPU")')]);
    expect(await page.locator('#timeline h2').innerText()).toBe('Samples over time');
    await page.locator('.frame').first().waitFor();
    expect(await page.locator('#flamegraph-toolbar').innerText()).toMatch(/[\d,]+ samples?/);
    expect(await page.locator('#flamegraph-toolbar').innerText()).not.toMatch(/MiB/);
    expect(await page.locator('#downloads a[download$="-profile.pb.gz"]').count()).toBe(1);
    await Promise.all([page.waitForURL(`**/incidents/${incidentId}?profile=page_faults`), page.click('#profile-kinds a:has-text("Page faults")')]);
    await page.locator('.frame[data-name="touch"]').first().waitFor();
    // A kind the incident does not have is the default view, not an error.
    await page.goto(`${daemon.baseUrl}/incidents/${incidentId}?profile=offcpu`);
    expect(await page.locator('#profile-kinds a[aria-current="page"]').innerText()).toBe('Page faults (bytes)');
    expect(seen.errors).toEqual([]);
    expect(seen.dialogs).toEqual([]);
  });
});
