import { spawnSync } from 'node:child_process';

// HTML checks through libxml2's HTML parser (xmllint --html, from libxml2-utils, which
// scripts/setup.sh installs): pages are read by an independent parser, not by regexes over the
// text. It warns about HTML5 elements (main, time, svg…) on stderr and still builds the tree.

/** Evaluates an XPath expression over an HTML page: string(), count(), or a node set's text. */
export function htmlXpath(html: string, expression: string): string {
  const result = spawnSync('xmllint', ['--html', '--xpath', expression, '-'], { input: html, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`cannot run xmllint (apt-get install -y libxml2-utils): ${result.error.message}`);
  // xmllint exits 10 when a node-set expression matched nothing.
  if (result.status === 10 || /XPath set is empty/.test(result.stderr)) return '';
  if (result.status !== 0) throw new Error(`xmllint --html --xpath ${expression} failed: ${result.stderr}`);
  return result.stdout.replace(/\n$/, '');
}

/** `count(...)` as a number. */
export function htmlCount(html: string, expression: string): number {
  return Number(htmlXpath(html, `count(${expression})`));
}

/** An XPath test for a class among the element's classes: `//tr[${hasClass('incident')}]`. */
export const hasClass = (name: string): string => `contains(concat(' ', normalize-space(@class), ' '), ' ${name} ')`;
