import { CST, Parser, type YAMLError } from 'yaml';
import type { LocatedProblem } from './located-problem.js';
import type { YamlLocator } from './yaml-locations.js';

/** A construct that opened and never closed: a flow collection or a quoted scalar. */
interface Unclosed {
  offset: number;
  what: string;
}

/**
 * Error codes the `yaml` parser gives when it runs past a construct that is not closed: a missing
 * `]`, `}` or quote (MISSING_CHAR), or a flow collection cut off by the next block line
 * (BAD_INDENT). Other codes (tabs, duplicate keys) are about the spot they name.
 */
const RUN_PAST_CODES = new Set(['MISSING_CHAR', 'BAD_INDENT']);

/**
 * The syntax errors of a YAML document as problems. The parser notices an unclosed `[`, `{` or
 * quote only where the text stops making sense, often the next line; each such problem also says
 * where the construct began, e.g. `rules.yaml:4:1: YAML syntax error: … (the flow sequence "[" that
 * is not closed began at 3:13)`, since that is the line to fix.
 *
 * @param text - the document's source, read again as tokens to find where constructs begin
 */
export function yamlSyntaxProblems(text: string, errors: readonly YAMLError[], locator: YamlLocator): LocatedProblem[] {
  const unclosed = unclosedConstructs(text);
  return errors.map((error) => {
    const location = locator.atOffset(error.pos[0]);
    let message = `YAML syntax error: ${error.message}`;
    if (RUN_PAST_CODES.has(error.code)) {
      // Innermost first: nested unclosed collections are reported from the inside out, one per error.
      const index = findLastIndex(unclosed, (construct) => construct.offset < error.pos[0]);
      if (index >= 0) {
        const [construct] = unclosed.splice(index, 1);
        const begin = locator.atOffset(construct.offset);
        message += ` (the ${construct.what} that is not closed began at ${begin.line}:${begin.col})`;
      }
    }
    return { location, message };
  });
}

/** Every flow collection without its closing bracket and quoted scalar without its closing quote, in source order. */
function unclosedConstructs(text: string): Unclosed[] {
  const found: Unclosed[] = [];
  for (const token of new Parser().parse(text)) {
    // visit() takes a document's own value as its first item, so a document that is a bare `[`
    // is found too; keys are items' keys, values their values.
    if (token.type !== 'document') continue;
    CST.visit(token, (item) => {
      if (item.key) collect(item.key, found);
      if (item.value) collect(item.value, found);
    });
  }
  return found.sort((a, b) => a.offset - b.offset);
}

function collect(token: CST.Token, found: Unclosed[]): void {
  if (token.type === 'flow-collection') {
    const closer = token.start.source === '[' ? 'flow-seq-end' : 'flow-map-end';
    if (!token.end.some((end) => end.type === closer)) {
      found.push({ offset: token.offset, what: token.start.source === '[' ? 'flow sequence "["' : 'flow mapping "{"' });
    }
    // Collections nested inside a flow collection are its items, which CST.visit walks too.
  } else if (token.type === 'double-quoted-scalar' && !closedDoubleQuoted(token.source)) {
    found.push({ offset: token.offset, what: 'double-quoted string' });
  } else if (token.type === 'single-quoted-scalar' && !closedSingleQuoted(token.source)) {
    found.push({ offset: token.offset, what: 'single-quoted string' });
  }
}

/** `"…"` closes with a quote that no odd run of backslashes escapes. */
function closedDoubleQuoted(source: string): boolean {
  if (source.length < 2 || !source.endsWith('"')) return false;
  let backslashes = 0;
  for (let i = source.length - 2; i > 0 && source[i] === '\\'; i--) backslashes++;
  return backslashes % 2 === 0;
}

/** `'…'` escapes a quote by doubling it: the closing quote ends an odd run of quotes after the opening one. */
function closedSingleQuoted(source: string): boolean {
  if (source.length < 2) return false;
  let quotes = 0;
  for (let i = source.length - 1; i > 0 && source[i] === "'"; i--) quotes++;
  return quotes % 2 === 1;
}

function findLastIndex<T>(items: T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i])) return i;
  return -1;
}
