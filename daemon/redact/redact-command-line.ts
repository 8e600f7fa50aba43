import { DEFAULT_REDACT_RULES, REDACTED, type RedactRules } from '../model/redact-rules.js';
import { isSecretName } from './secret-name.js';
import { redactUrlUserinfo } from './url-userinfo.js';

/**
 * `--name=value`, `-Dname=value`, `NAME=value`, `name: value` (and `"name: value"`): the quote a
 * shell string opened, the dashes, the name, the separator with the blanks after it, the value.
 * Anchored, and every quantifier is over a character class followed by a different one: linear.
 */
const ASSIGNMENT = /^(["']?)(-{0,2})([A-Za-z_][\w.-]*)(=|:[ \t]*)([\s\S]*)$/;
/** `--name` or `-name`, whose value is the next argument. */
const FLAG = /^(["']?)(-{1,2})([A-Za-z][\w.-]*)$/;
/** HTTP authorization schemes: in `Authorization: Bearer xyz` the secret is the word after them. */
const AUTH_SCHEMES = new Set(['bearer', 'basic', 'digest', 'token', 'negotiate']);

/**
 * A command line with the values of secret-looking options and variables replaced by
 * {@link REDACTED}, and passwords in URLs hidden; arguments joined by spaces, as tail2 shows them.
 * Run before a command line is stored or sent anywhere (incidents, the index, notifications).
 *
 * Recognised: `--name=value`, `-Dname=value`, `NAME=value`, `name: value` as one argument (the whole
 * rest of it is the value, spaces included); `--name value` and `-name value` (the next argument,
 * unless it starts with `-`; never after `--no-…`); `Authorization: Bearer xyz` (the scheme's word
 * too); URL userinfo anywhere. Which names are secret: {@link isSecretName}. Arguments with blanks
 * (a `sh -c` script) are also searched word by word, with `'…'`/`"…"` values taken whole.
 *
 * @param cmdline `/proc/PID/cmdline` as read (arguments separated by NUL, which gives exact argument
 *   boundaries), or a line already joined by spaces (then every blank is a boundary).
 */
export function redactCommandLine(cmdline: string, rules: RedactRules = DEFAULT_REDACT_RULES): string {
  const trimmed = trimTrailingNuls(cmdline);
  if (!trimmed.includes('\0')) return redactWords(trimmed, rules);
  const args = trimmed.split('\0');
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const assignment = ASSIGNMENT.exec(arg);
    if (assignment && assignment[5] !== '' && isSecretName(assignment[3], rules)) {
      out.push(arg.slice(0, arg.length - assignment[5].length) + REDACTED);
      continue;
    }
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('-') && isSecretFlag(arg, rules)) {
      out.push(arg, REDACTED);
      i++;
      continue;
    }
    out.push(redactWords(arg, rules));
  }
  return out.join(' ');
}

/** A `--name` whose value is the next argument (a `--no-name` is a switch: it takes none). */
function isSecretFlag(word: string, rules: RedactRules): boolean {
  const flag = FLAG.exec(word);
  return flag !== null && !/^no-/i.test(flag[3]) && isSecretName(flag[3], rules);
}

/**
 * The same forms inside one text, word by word (blanks are kept as they were). A value that opens
 * a quote runs to the word that closes it, and the closing quote is kept.
 */
function redactWords(text: string, rules: RedactRules): string {
  // Even indices: words (maybe ''); odd: the blank runs between them.
  const parts = text.split(/(\s+)/);
  for (let i = 0; i < parts.length; i += 2) {
    const word = parts[i];
    if (word === '') continue;
    const assignment = ASSIGNMENT.exec(word);
    if (assignment && isSecretName(assignment[3], rules)) {
      const [, openQuote, , , separator, value] = assignment;
      const head = word.slice(0, word.length - value.length);
      if (value !== '') i = redactQuotable(parts, i, head, openQuote, value);
      else if (separator.startsWith(':')) i = redactFollowing(parts, i, openQuote);
      continue;
    }
    if (isSecretFlag(word, rules)) {
      i = redactFollowing(parts, i, FLAG.exec(word)?.[1] ?? '');
      continue;
    }
    if (rules.urlUserinfo) parts[i] = redactUrlUserinfo(word);
  }
  return parts.join('');
}

/**
 * The value is the word after `parts[i]` (an option's or a `name:`'s value), unless there is none
 * or it looks like another option; `Authorization: Bearer xyz` hides the word after the scheme.
 * Returns the index of the last word consumed.
 */
function redactFollowing(parts: string[], i: number, openQuote: string): number {
  const j = i + 2;
  const first = parts[j];
  if (first === undefined || first === '' || (!openQuote && first.startsWith('-'))) return i;
  if (!openQuote && AUTH_SCHEMES.has(first.toLowerCase()) && parts[j + 2]) return redactQuotable(parts, j + 2, '', '', parts[j + 2]);
  return redactQuotable(parts, j, '', openQuote, first);
}

/**
 * Replaces the value that starts `parts[i]` after `head` with {@link REDACTED}. A value inside a
 * quote (opened before the name, `openQuote`, or by the value itself) runs to the first word
 * holding the closing quote, or to the end; that quote and what follows it are kept. Returns the
 * index of the last word consumed.
 */
function redactQuotable(parts: string[], i: number, head: string, openQuote: string, value: string): number {
  let quote = openQuote;
  let rest = value;
  if (!quote && (value[0] === '"' || value[0] === "'")) {
    quote = value[0];
    head += quote;
    rest = value.slice(1);
  }
  if (!quote) {
    parts[i] = head + REDACTED;
    return i;
  }
  for (let j = i; j < parts.length; j += 2) {
    const text = j === i ? rest : parts[j];
    const close = text.indexOf(quote);
    if (close < 0) continue;
    parts[i] = head + REDACTED + text.slice(close);
    for (let k = i + 1; k <= j; k++) parts[k] = '';
    return j;
  }
  parts[i] = head + REDACTED;
  for (let k = i + 1; k < parts.length; k++) parts[k] = '';
  return parts.length;
}

function trimTrailingNuls(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0) end--;
  return end === text.length ? text : text.slice(0, end);
}
