/**
 * The email of an incident: a one-line subject, a small table-based HTML body (inline styles
 * only, no script, no external resource, so it renders the same in Gmail, Outlook and Apple
 * Mail) with the flamegraph as an inline image, and a plain-text part saying the same.
 */
import { escapeXml } from '../daemon/model/escape-xml.js';
import type { IncidentMessage, MessageFunction } from './delivery.js';

export interface EmailMessageOptions {
  /** The flamegraph PNG is attached; the HTML shows it. */
  hasImage: boolean;
  /** Whose samples the image shows (`burner (pid 4242)`, `nginx.service`), for its alt text. @defaultValue the process, else the host */
  imageOf?: string;
  /** Content-ID of the attached PNG, without angle brackets (`flamegraph-<id>@tail2`). */
  imageCid: string;
}

export interface EmailContent {
  /** One line, at most {@link MAX_SUBJECT_LENGTH} characters. */
  subject: string;
  text: string;
  html: string;
}

/** Longest subject, in characters; mail clients cut far earlier in the list view anyway. */
export const MAX_SUBJECT_LENGTH = 200;

/** The command line is cut here: Java and Node command lines run to kilobytes. */
const MAX_CMDLINE_LENGTH = 300;
/** C++ and Rust symbols can be kilobytes of template arguments; the incident page has them whole. */
const MAX_FUNCTION_LENGTH = 200;

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";
const MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace";

// Line breaks, other C0/C1 controls and the Unicode line/paragraph separators would end a header
// line (header injection) or fake a new line in the text part; bidi embedding and override
// controls let a process name display reversed text ("Trojan source") in a subject.
const CONTROL_RUN = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]+/g;

/** `text` as one line: control characters become spaces, runs of spaces one space. */
function oneLine(text: string): string {
  return text.replace(CONTROL_RUN, ' ').replace(/\s+/g, ' ').trim();
}

/** `text` cut to `max` characters (code points, so a surrogate pair is never split), with `…`. */
function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/** One-line, cut and HTML-escaped: every untrusted string goes into the HTML through this. */
function html(text: string, max = Infinity): string {
  // escapeXml suits HTML too: & < > " ' are the characters HTML text and quoted attributes need
  // escaped, &#39; is valid HTML, and control characters have no business in an email either.
  return escapeXml(truncate(oneLine(text), max));
}

/** The URL for an href, or undefined unless it is an absolute http(s) URL. */
function linkHref(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  // The serialized form has spaces and quotes percent-encoded, so it cannot leave the attribute
  // even before escaping.
  return parsed.href;
}

/** `2024-05-01T12:00:00.000Z (Wed, 01 May 2024 12:00:00 UTC)`, or the text as given if unparsable. */
function formatWhen(firedAt: string): string {
  const date = new Date(firedAt);
  if (Number.isNaN(date.getTime())) return oneLine(firedAt);
  return `${date.toISOString()} (${date.toUTCString().replace(/GMT$/, 'UTC')})`;
}

function formatPercent(value: number): string {
  return `${value.toFixed(1)}%`;
}

/** `+4.2 pts`, `-1.0 pts`, `0.0 pts` (never `-0.0`). */
function formatChange(points: number): string {
  const rounded = Math.round(points * 10) / 10;
  if (rounded === 0) return '0.0 pts';
  return `${rounded > 0 ? '+' : '-'}${Math.abs(rounded).toFixed(1)} pts`;
}

/** `[tail2] <title> — <trigger>` on one line, cut to {@link MAX_SUBJECT_LENGTH}. */
function subjectOf(message: IncidentMessage): string {
  return truncate(oneLine(`[tail2] ${oneLine(message.title)} — ${oneLine(message.trigger)}`), MAX_SUBJECT_LENGTH);
}

/** `comm (pid N)`, one line. */
function processLabel(process: NonNullable<IncidentMessage['process']>): string {
  return `${oneLine(process.comm)} (pid ${process.pid})`;
}

/** Works out the email of one incident; every string of `message` but `id` is treated as untrusted. */
export function emailMessage(message: IncidentMessage, options: EmailMessageOptions): EmailContent {
  const subject = subjectOf(message);
  return { subject, text: textBody(message), html: htmlBody(message, subject, options) };
}

function textBody(message: IncidentMessage): string {
  const lines = [oneLine(message.title), ''];
  const fact = (label: string, value: string): number => lines.push(`${`${label}:`.padEnd(Math.max(10, label.length + 2))}${value}`);
  fact('Rule', oneLine(message.rule));
  fact('Host', oneLine(message.host));
  if (message.process) {
    fact('Process', processLabel(message.process));
    const cmdline = truncate(oneLine(message.process.cmdline), MAX_CMDLINE_LENGTH);
    if (cmdline) fact('Command', cmdline);
  }
  if (message.cgroup) fact(message.cgroup.unit !== undefined ? 'Unit' : 'Cgroup', oneLine(message.cgroup.unit ?? message.cgroup.path));
  fact('When', formatWhen(message.firedAt));
  fact('Trigger', oneLine(message.trigger));
  if (message.profile) fact(oneLine(message.profile.title), oneLine(message.profile.amount));
  else fact('Samples', String(message.samples));
  if (message.idle) fact('Host CPUs', oneLine(message.idle));
  lines.push('');
  if (message.topFunctions.length === 0) {
    lines.push('No samples in the trigger window.');
  } else {
    const hasBaseline = message.topFunctions.some((f) => f.changePoints !== undefined);
    if (message.profile) lines.push(`Top functions by ${oneLine(message.profile.title.toLowerCase())} over the captured window (self share):`);
    else lines.push(hasBaseline ? 'Top functions (self share, change against the baseline):' : 'Top functions (self share; no baseline to compare with):');
    message.topFunctions.forEach((f, i) => {
      const change = hasBaseline ? `  ${(f.changePoints === undefined ? 'n/a' : formatChange(f.changePoints)).padStart(9)}` : '';
      lines.push(`  ${i + 1}. ${formatPercent(f.selfPercent).padStart(6)}${change}  ${functionLabel(f)}`);
    });
  }
  lines.push('', `Open incident: ${oneLine(message.url)}`, '', '-- ', `Sent by tail2 on ${oneLine(message.host)} (incident ${oneLine(message.id)}).`);
  return lines.join('\n') + '\n';
}

/** `name (module)`, one line, cut. */
function functionLabel(f: MessageFunction): string {
  const name = truncate(oneLine(f.name), MAX_FUNCTION_LENGTH);
  return f.module ? `${name} (${oneLine(f.module)})` : name;
}

function htmlBody(message: IncidentMessage, subject: string, options: EmailMessageOptions): string {
  const href = linkHref(message.url);
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="x-apple-disable-message-reformatting">',
    `<title>${escapeXml(subject)}</title>`,
    '</head>',
    '<body style="margin:0;padding:0;background-color:#f3f4f6;">',
    // The preview line inbox lists show next to the subject.
    `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">${html(message.trigger, 150)}</div>`,
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f3f4f6;">',
    '<tr><td align="center" style="padding:24px 12px;">',
    // 1200 px of flamegraph plus the padding; Outlook ignores max-width and uses the full window.
    '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:1248px;background-color:#ffffff;border:1px solid #e5e7eb;border-radius:6px;">',
    section(
      `<div style="font-family:${FONT};font-size:12px;letter-spacing:1px;text-transform:uppercase;color:#b91c1c;">tail2 incident</div>` +
        `<h1 style="margin:4px 0 0 0;font-family:${FONT};font-size:22px;line-height:1.3;color:#111827;">${html(message.title)}</h1>`,
      '20px 24px 4px 24px',
    ),
    section(factsTable(message)),
    section(flamegraph(message, options)),
    section(functionsTable(message.topFunctions, message.profile)),
    section(openButton(message.url, href), '16px 24px 24px 24px'),
    section(
      `<p style="margin:0;font-family:${FONT};font-size:12px;line-height:1.5;color:#6b7280;">` +
        `Sent by tail2 on ${html(message.host)} for incident ${html(message.id)}. ` +
        (message.profile
          ? `Self share: the part of the captured window’s ${html(message.profile.title.toLowerCase())} taken in the function itself.</p>`
          : 'Self share: the part of the trigger window’s samples spent in the function itself; change: percentage points against the baseline window.</p>'),
      '16px 24px 20px 24px',
      'border-top:1px solid #e5e7eb;',
    ),
    '</table>',
    '</td></tr>',
    '</table>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function section(content: string, padding = '12px 24px', style = ''): string {
  return `<tr><td style="padding:${padding};${style}">${content}</td></tr>`;
}

function factsTable(message: IncidentMessage): string {
  const rows: string[] = [];
  const th = `align="left" valign="top" style="padding:4px 16px 4px 0;font-family:${FONT};font-size:14px;font-weight:bold;color:#6b7280;white-space:nowrap;"`;
  const td = `valign="top" style="padding:4px 0;font-family:${FONT};font-size:14px;color:#111827;word-break:break-word;"`;
  const row = (label: string, valueHtml: string): number => rows.push(`<tr><th ${th}>${label}</th><td ${td}>${valueHtml}</td></tr>`);
  row('Rule', html(message.rule));
  row('Host', html(message.host));
  if (message.process) {
    const cmdline = html(message.process.cmdline, MAX_CMDLINE_LENGTH);
    row(
      'Process',
      `<span style="font-family:${MONO};">${html(message.process.comm)}</span> (pid ${message.process.pid})` +
        (cmdline ? `<br><span style="font-family:${MONO};font-size:12px;color:#4b5563;word-break:break-all;">${cmdline}</span>` : ''),
    );
  }
  if (message.cgroup) row(message.cgroup.unit !== undefined ? 'Unit' : 'Cgroup', `<span style="font-family:${MONO};">${html(message.cgroup.unit ?? message.cgroup.path)}</span>`);
  row('When', escapeXml(formatWhen(message.firedAt)));
  row('Trigger', html(message.trigger));
  if (message.profile) row(html(message.profile.title), html(message.profile.amount));
  else row('Samples', String(message.samples));
  if (message.idle) row('Host CPUs', html(message.idle));
  return `<table role="presentation" cellpadding="0" cellspacing="0" border="0">${rows.join('')}</table>`;
}

function flamegraph(message: IncidentMessage, options: EmailMessageOptions): string {
  if (!options.hasImage) {
    return `<p style="margin:0;font-family:${FONT};font-size:14px;color:#6b7280;">No flamegraph image for this incident; the incident page has the profile.</p>`;
  }
  const of = options.imageOf !== undefined ? oneLine(options.imageOf) : message.process ? processLabel(message.process) : oneLine(message.host);
  return (
    `<img src="cid:${escapeXml(options.imageCid)}" alt="${escapeXml(`Flamegraph of ${of} in the trigger window`)}" width="1200" ` +
    'style="display:block;width:100%;max-width:1200px;height:auto;border:0;outline:none;text-decoration:none;">'
  );
}

function functionsTable(functions: MessageFunction[], profile: IncidentMessage['profile']): string {
  if (functions.length === 0) {
    return `<p style="margin:0;font-family:${FONT};font-size:14px;color:#6b7280;">No samples in the trigger window.</p>`;
  }
  const hasBaseline = functions.some((f) => f.changePoints !== undefined);
  const cell = `style="padding:6px 8px;border-bottom:1px solid #e5e7eb;font-family:${FONT};font-size:13px;color:#111827;"`;
  const head = `style="padding:6px 8px;border-bottom:2px solid #d1d5db;font-family:${FONT};font-size:12px;color:#6b7280;"`;
  const header =
    `<tr><th align="left" ${head}>Top functions${profile ? ` by ${html(profile.title.toLowerCase())}` : ''}</th><th align="right" ${head}>Self</th>` +
    (hasBaseline ? `<th align="right" ${head}>Change</th>` : '') +
    '</tr>';
  const rows = functions.map((f) => {
    const module = f.module ? `<br><span style="font-size:11px;color:#6b7280;">${html(f.module)}</span>` : '';
    const change = hasBaseline ? `<td align="right" ${cell}>${f.changePoints === undefined ? 'n/a' : formatChange(f.changePoints)}</td>` : '';
    return (
      `<tr><td ${cell}><span style="font-family:${MONO};word-break:break-all;">${html(f.name, MAX_FUNCTION_LENGTH)}</span>${module}</td>` +
      `<td align="right" ${cell}>${formatPercent(f.selfPercent)}</td>${change}</tr>`
    );
  });
  return `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">${header}${rows.join('')}</table>`;
}

/** A button Outlook draws too (a coloured cell around the link), or the address as text when it is no http(s) URL. */
function openButton(url: string, href: string | undefined): string {
  if (href === undefined) {
    return `<p style="margin:0;font-family:${FONT};font-size:14px;color:#111827;">Incident page: ${html(url)}</p>`;
  }
  const attr = escapeXml(href);
  return (
    '<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr>' +
    '<td align="center" bgcolor="#b91c1c" style="border-radius:4px;">' +
    `<a href="${attr}" target="_blank" rel="noopener" style="display:inline-block;padding:12px 28px;font-family:${FONT};font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:4px;">Open incident</a>` +
    '</td></tr></table>' +
    `<p style="margin:12px 0 0 0;font-family:${FONT};font-size:12px;color:#6b7280;word-break:break-all;">` +
    `<a href="${attr}" target="_blank" rel="noopener" style="color:#6b7280;">${escapeXml(href)}</a></p>`
  );
}
