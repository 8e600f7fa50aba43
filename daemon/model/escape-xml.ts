/**
 * Escaping of untrusted text (symbol names, process names, paths, titles) for XML and SVG output.
 */

const NEEDS_WORK = /[&<>"'\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

// XML 1.0 forbids these characters even as character references, so a stray control byte in a
// `comm` or a lone surrogate from a bad demangle would make the whole document unparseable.
// They become U+FFFD; valid surrogate pairs are kept.
const NOT_XML_CHAR =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const SPECIAL = /[&<>"']/g;

const ENTITY: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Returns `text` safe to place in XML character data or in a quoted attribute value: `& < > " '`
 * become entities and characters XML cannot carry at all become U+FFFD.
 */
export function escapeXml(text: string): string {
  // Most symbol names need nothing; skipping the replaces keeps large flamegraphs fast.
  if (!NEEDS_WORK.test(text)) return text;
  return text.replace(NOT_XML_CHAR, '\uFFFD').replace(SPECIAL, (c) => ENTITY[c] ?? c);
}
