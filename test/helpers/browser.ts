import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testOutput } from './fixtures.js';

/** Where the browser tests leave screenshots of every page, for a person to look at. */
export const screenshotDir = join(testOutput, 'screenshots');

/**
 * Debian's chromium (installed by scripts/setup.sh), headless, driven by playwright-core; never a
 * downloaded browser. The background-networking flags keep it from reaching for Google's hosts,
 * which this machine's closed network refuses.
 */
export function launchChromium(): Promise<Browser> {
  mkdirSync(screenshotDir, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What a page did that it must not: dialogs (a script of an XSS payload ran), errors, CSP violations. */
export interface PageIncidents {
  dialogs: string[];
  errors: string[];
}

/** Records dialogs (dismissing them), uncaught errors and console errors of `page`. */
export function watchPage(page: Page): PageIncidents {
  const seen: PageIncidents = { dialogs: [], errors: [] };
  page.on('dialog', (dialog) => {
    seen.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => seen.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') seen.errors.push(`console: ${message.text()}`);
  });
  return seen;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}
