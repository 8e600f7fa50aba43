/**
 * An incident as a Slack message: Block Kit laid out to read on a phone, and the plain fallback
 * text that push notifications and screen readers use. Used by both the Web API sender and the
 * incoming-webhook sender.
 */
// @slack/types is what @slack/web-api's own argument types are written in; it comes with it.
import type { ContextBlock, KnownBlock, MrkdwnElement, SectionBlock } from '@slack/types';
import type { IncidentMessage, MessageFunction } from './delivery.js';
import {
  escapeMrkdwn,
  mrkdwnDate,
  mrkdwnLink,
  SLACK_HEADER_MAX,
  SLACK_SECTION_TEXT_MAX,
  truncateMrkdwn,
} from './slack-mrkdwn.js';

/** A Slack message: `text` is the fallback, `blocks` what Slack clients render. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

// Per-value limits, far below Slack's (2,000 per field, 3,000 per section) so the message stays
// short on a phone even when a process sends us a 10 kB command line or a C++ template symbol.
const SHORT_VALUE_MAX = 150;
const TRIGGER_MAX = 300;
const COMM_MAX = 64;
const CMDLINE_MAX = 300;
const FUNCTION_NAME_MAX = 120;
const MODULE_MAX = 60;
/** Keeps the notification preview readable; Slack itself would take 40,000. */
const FALLBACK_MAX = 1000;

/** Builds the Slack message of an incident. Every untrusted string is escaped with escapeMrkdwn. */
export function slackMessage(message: IncidentMessage): SlackMessage {
  return { text: fallbackText(message), blocks: messageBlocks(message) };
}

function messageBlocks(message: IncidentMessage): KnownBlock[] {
  const blocks: KnownBlock[] = [
    // Slack refuses an empty plain_text, and a title is all spaces only if something upstream broke.
    { type: 'header', text: { type: 'plain_text', text: short(message.title, SLACK_HEADER_MAX).trim() || 'tail2 incident' } },
    { type: 'section', fields: summaryFields(message) },
  ];
  if (message.process && message.process.cmdline.trim() !== '') blocks.push(cmdlineContext(message.process.cmdline));
  if (message.topFunctions.length > 0) blocks.push(topFunctionsSection(message));
  blocks.push({
    type: 'actions',
    elements: [{ type: 'button', action_id: 'open_incident', text: { type: 'plain_text', text: 'Open incident' }, url: message.url }],
  });
  return blocks;
}

function summaryFields(message: IncidentMessage): MrkdwnElement[] {
  const fields: [string, string][] = [
    ['Rule', short(message.rule, SHORT_VALUE_MAX)],
    ['Host', short(message.host, SHORT_VALUE_MAX)],
  ];
  if (message.process) fields.push(['Process', processText(message.process)]);
  if (message.cgroup) fields.push(message.cgroup.unit !== undefined ? ['Unit', codeSpan(message.cgroup.unit, SHORT_VALUE_MAX)] : ['Cgroup', codeSpan(message.cgroup.path, SHORT_VALUE_MAX)]);
  fields.push(['When', mrkdwnDate(message.firedAt)], ['Trigger', short(message.trigger, TRIGGER_MAX)]);
  if (message.idle) fields.push(['Host CPUs', short(message.idle, SHORT_VALUE_MAX)]);
  return fields.map(([label, value]) => mrkdwn(`*${label}*\n${value}`));
}

function processText(process: NonNullable<IncidentMessage['process']>): string {
  return `${codeSpan(process.comm, COMM_MAX)} (pid ${process.pid})`;
}

function cmdlineContext(cmdline: string): ContextBlock {
  return { type: 'context', elements: [mrkdwn(codeSpan(cmdline, CMDLINE_MAX))] };
}

function topFunctionsSection(message: IncidentMessage): SectionBlock {
  const heading = message.profile
    ? `*Top functions by ${escapeMrkdwn(message.profile.title.toLowerCase())}* · ${escapeMrkdwn(message.profile.amount)}`
    : `*Top functions* · ${message.samples.toLocaleString('en-US')} samples`;
  const lines = message.topFunctions.slice(0, 5).map(functionLine);
  return { type: 'section', text: mrkdwn(truncateMrkdwn([heading, ...lines].join('\n'), SLACK_SECTION_TEXT_MAX)) };
}

/** `• `name` · module — 41.2% (+38.0 pts)`: self share, then its change against the baseline. */
function functionLine(fn: MessageFunction): string {
  let line = `• ${codeSpan(fn.name, FUNCTION_NAME_MAX)}`;
  if (fn.module) line += ` · ${short(basename(fn.module), MODULE_MAX)}`;
  line += ` — ${fn.selfPercent.toFixed(1)}%`;
  const change = changeText(fn);
  return change ? `${line} (${change})` : line;
}

/**
 * `+41.2 pts`, `-3.0 pts`, or `new` when the function had no share in the baseline window;
 * nothing without a baseline.
 */
export function changeText(fn: MessageFunction): string | undefined {
  if (fn.changePoints === undefined) return undefined;
  const baseline = fn.selfPercent - fn.changePoints;
  if (Math.abs(baseline) < 0.05 && fn.selfPercent >= 0.05) return 'new';
  const points = fn.changePoints.toFixed(1);
  if (Number(points) === 0) return '±0.0 pts';
  return `${fn.changePoints > 0 ? '+' : ''}${points} pts`;
}

/**
 * One or two lines: what fired, on what, the hottest function and the link (buttons do not show
 * in notifications). Slack parses `text` as mrkdwn too, so it is escaped like the blocks.
 */
function fallbackText(message: IncidentMessage): string {
  let summary = `${escapeMrkdwn(message.title)}: ${escapeMrkdwn(message.trigger)}`;
  if (message.process) summary += ` — ${escapeMrkdwn(message.process.comm)} (pid ${message.process.pid})`;
  else if (message.cgroup) summary += ` — ${escapeMrkdwn(message.cgroup.unit ?? message.cgroup.path)}`;
  const top = message.topFunctions[0];
  if (top) summary += ` — top: ${escapeMrkdwn(top.name)} ${top.selfPercent.toFixed(1)}%`;
  return `${truncateMrkdwn(summary, FALLBACK_MAX)}\nOpen incident: ${mrkdwnLink(message.url)}`;
}

/**
 * `verbatim: true` keeps Slack from auto-linking URLs and channel names that appear in untrusted
 * text (a command line full of hostnames); our own `<…>` markup still renders.
 */
function mrkdwn(text: string): MrkdwnElement {
  return { type: 'mrkdwn', text, verbatim: true };
}

function short(text: string, max: number): string {
  return truncateMrkdwn(escapeMrkdwn(text), max);
}

/** A code span around escaped text; the backticks are counted in `max`. */
function codeSpan(text: string, max: number): string {
  // An empty span would render as two literal backticks.
  const inner = truncateMrkdwn(escapeMrkdwn(text), max - 2);
  return `\`${inner.trim() === '' ? '?' : inner}\``;
}

function basename(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash >= 0 && slash < path.length - 1 ? path.slice(slash + 1) : path;
}
