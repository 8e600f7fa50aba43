import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

// XML checks through Debian's xmllint (libxml2-utils, installed by scripts/setup.sh): an
// independent parser, so a test does not grade tail2's SVG with tail2's own code.

/** Fails the test unless `svg` is well-formed XML. */
export function expectWellFormed(svg: string): void {
  const result = spawnSync('xmllint', ['--noout', '-'], { input: svg, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`cannot run xmllint (apt-get install -y libxml2-utils): ${result.error.message}`);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
}

/** Evaluates an XPath expression returning a string or number (string(), count(), sum()). */
export function xpath(svg: string, expression: string): string {
  const result = spawnSync('xmllint', ['--xpath', expression, '-'], { input: svg, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`xmllint --xpath ${expression} failed: ${result.stderr}`);
  return result.stdout.replace(/\n$/, '');
}

/** An element step that ignores the SVG namespace: `//${el('rect')}`. */
export const el = (name: string): string => `*[local-name()='${name}']`;
