/**
 * Slack mrkdwn for untrusted text: escaping (so a process named `<!channel>` cannot ping anyone),
 * truncation that respects Slack's field limits without breaking an entity or our own markup, and
 * the two pieces of markup tail2 writes itself (links and localised dates).
 */

/** Slack's limit on a header block's plain_text, in characters. */
export const SLACK_HEADER_MAX = 150;
/** Slack's limit on a section block's text (and on any mrkdwn text object), in characters. */
export const SLACK_SECTION_TEXT_MAX = 3000;
/** Slack's limit on each of a section block's fields, in characters. */
export const SLACK_FIELD_MAX = 2000;

/**
 * Line breaks, tabs and NULs (the separators of /proc/<pid>/cmdline) become spaces: a newline in
 * a process name would break the layout of a field, and a NUL between arguments is a space to a
 * reader.
 */
const AS_SPACE = /[\u0000\t\n\u000B\u000C\r\u0085\u2028\u2029]/g;

/**
 * Dropped: the other C0/C1 controls and DEL (terminal noise, invisible in Slack), and the Unicode
 * bidirectional controls, which can reorder what a reader sees ("Trojan Source") so that one
 * symbol name looks like another.
 */
const DROPPED = /[\u0001-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** Lone surrogates cannot be encoded as UTF-8; Slack would reject or mangle the whole message. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * U+02CB MODIFIER LETTER GRAVE ACCENT looks like a backtick but is not one: a backtick in a symbol
 * name (Go's `pkg.(*T).fn` never has one, but OCaml, Haskell and mangled names can) would close
 * our code span early and let the rest of the name format as mrkdwn.
 */
const BACKTICK_STAND_IN = '\u02CB';

/**
 * `@channel`, `@here` and `@everyone` typed as plain words are only pings when Slack's automatic
 * parsing is on (`parse: full`, `link_names`), which tail2 never asks for; a WORD JOINER after the
 * `@` keeps them inert even if a workspace or a future client treats them differently.
 */
const BROADCAST_WORD = /@(?=(?:channel|here|everyone)\b)/gi;

/**
 * Returns `text` safe to place anywhere in Slack mrkdwn (and in plain_text): `& < >` become
 * `&amp; &lt; &gt;` (Slack's only three entities, so `<!channel>`, `<@U123>` and
 * `<http://evil|click>` arrive as text, not as pings or links), backticks become U+02CB so they
 * cannot end a code span, line breaks and NULs become spaces, other control and bidi characters
 * are removed, and lone surrogates become U+FFFD.
 */
export function escapeMrkdwn(text: string): string {
  return text
    .replace(AS_SPACE, ' ')
    .replace(DROPPED, '')
    .replace(LONE_SURROGATE, '\uFFFD')
    .replace(/[&<>]/g, (c) => ENTITY[c] ?? c)
    .replace(/`/g, BACKTICK_STAND_IN)
    .replace(BROADCAST_WORD, '@\u2060');
}

/**
 * Shortens escaped mrkdwn to at most `maxChars` characters (UTF-16 code units, which is never less
 * than what Slack counts), ending it with `…`. The cut never falls inside an entity (`&amp;`), a
 * surrogate pair or a `<…>` of our own markup (escaped text has no other `<`), and a code span left
 * open by the cut is closed, so the shortened text renders as the start of the original.
 */
export function truncateMrkdwn(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  if (maxChars < 1) return '';
  let room = maxChars - 1;
  for (;;) {
    const cut = safeCut(text, room);
    const head = text.slice(0, cut).trimEnd();
    const suffix = countBackticks(head) % 2 === 1 ? '…`' : '…';
    if (head.length + suffix.length <= maxChars || room === 0) return head + suffix;
    room -= 1;
  }
}

/** The largest position `<= at` where `text` can be cut without splitting an entity, pair or tag. */
function safeCut(text: string, at: number): number {
  let cut = at;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
  // Entities are at most five characters (`&amp;`), so only an `&` in the last four can be open.
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && amp >= cut - 4 && !text.slice(amp, cut).includes(';')) cut = amp;
  const open = text.lastIndexOf('<', cut - 1);
  if (open >= 0 && !text.slice(open, cut).includes('>')) cut = open;
  return cut;
}

function countBackticks(text: string): number {
  let n = 0;
  for (const c of text) if (c === '`') n += 1;
  return n;
}

/**
 * A mrkdwn link to one of tail2's own URLs (never an untrusted one): `&` is escaped as Slack
 * expects inside `<…>`, and `<`, `>`, `|` and spaces, which would end the link early, are
 * percent-encoded. The label is escaped like any text.
 */
export function mrkdwnLink(url: string, label?: string): string {
  const target = url
    .replace(/&/g, '&amp;')
    .replace(/[<>| ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  return label === undefined ? `<${target}>` : `<${target}|${escapeMrkdwn(label)}>`;
}

/**
 * A time each reader sees in their own time zone and locale (`Today at 3:04 AM`), using Slack's
 * `<!date^…>`; clients that cannot format it show the escaped ISO text. An unparseable time is
 * shown as escaped text.
 */
export function mrkdwnDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${escapeMrkdwn(iso)}>`;
}
