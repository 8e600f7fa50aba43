import { isAlias, isMap, isNode, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { SourceLocation } from './located-problem.js';

/** A path into a YAML document as zod reports it: mapping keys and list indexes. */
export type YamlPath = readonly PropertyKey[];

/**
 * Turns paths into a parsed YAML document into `FILE:LINE:COL` locations, so every problem points
 * at the text that caused it rather than at the rule or the file.
 */
export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly file: string,
  ) {}

  /** The location of a character offset in the source (YAML errors carry offsets). */
  atOffset(offset: number): SourceLocation {
    const { line, col } = this.lineCounter.linePos(offset);
    return { file: this.file, line, col };
  }

  /**
   * The location of the value at `path`, or of its key with `at: 'key'` (for "unknown key" and
   * "not both" problems, where the key is the mistake). A path that leads nowhere (a missing key)
   * falls back to the nearest ancestor that exists: the rule for a rule's key, then the file start.
   */
  locate(path: YamlPath, at: 'value' | 'key' = 'value'): SourceLocation {
    let node: unknown = this.doc.contents;
    let found = this.startOf(node) ?? 0;
    for (const [index, segment] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((item) => keyText(item.key) === String(segment));
        if (!pair) break;
        const last = index === path.length - 1;
        const value = pair.value;
        // `key:` with nothing after it has an empty value node placed at the line end; the key is
        // where a person looks.
        const emptyValue = !isNode(value) || (isScalar(value) && value.value === null && (value.source ?? '') === '');
        next = (last && at === 'key') || emptyValue ? pair.key : value;
        if (!last && emptyValue) {
          found = this.startOf(pair.key) ?? found;
          break;
        }
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
      }
      const start = this.startOf(next);
      if (start === undefined) break;
      found = start;
      node = next;
    }
    return this.atOffset(found);
  }

  private startOf(node: unknown): number | undefined {
    return isNode(node) && node.range ? node.range[0] : undefined;
  }
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}
