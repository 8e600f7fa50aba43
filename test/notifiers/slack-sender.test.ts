import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Resvg } from '@resvg/resvg-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryError, type IncidentMessage } from '../../notifiers/delivery.js';
import { slackMessage } from '../../notifiers/slack-blocks.js';
import { escapeMrkdwn, mrkdwnDate, mrkdwnLink, truncateMrkdwn } from '../../notifiers/slack-mrkdwn.js';
import { SlackSender } from '../../notifiers/slack-sender.js';
import { SlackWebhookSender } from '../../notifiers/slack-webhook-sender.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';

// The Slack senders with the real @slack/web-api client and real fetch against a local server
// that speaks Slack's Web API and webhooks (test/helpers/slack-api-server.ts), plus unit tests of
// the escaping and of the Block Kit layout.

const TOKEN = 'xoxb-000000000-tail2-test-token';
const CHANNEL = 'C0TAIL2TEST';

function incident(overrides: Partial<IncidentMessage> = {}): IncidentMessage {
  return {
    id: '20260501T030405Z-cpu_hot-000001',
    title: 'cpu_hot fired on web-1',
    rule: 'cpu_hot',
    host: 'web-1',
    firedAt: '2026-05-01T03:04:05.000Z',
    process: { pid: 4242, comm: '<!channel>', cmdline: '/usr/bin/app --name <@U123> <http://evil.example|click>' },
    trigger: 'cpu 99% of a core (above 80%)',
    topFunctions: [
      { name: 'parse_json', module: '/usr/lib/libapp.so', selfPercent: 45.5, changePoints: 41.2 },
      { name: 'std::vector<int>::push_back', selfPercent: 10, changePoints: 10 },
      { name: 'old_fn', selfPercent: 5, changePoints: -3 },
    ],
    samples: 12345,
    url: 'http://tail2.example:8080/incidents/20260501T030405Z-cpu_hot-000001',
    ...overrides,
  };
}

/** Every string anywhere in a block tree, for "nothing raw slipped through" checks. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** Every text object (`{type: 'mrkdwn'|'plain_text', text}`) with the kind of block it is in. */
function textObjects(blocks: unknown[]): { block: string; text: string }[] {
  const out: { block: string; text: string }[] = [];
  const walk = (value: unknown, block: string): void => {
    if (Array.isArray(value)) value.forEach((v) => walk(v, block));
    else if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') out.push({ block, text: o.text });
      for (const [key, v] of Object.entries(o)) walk(v, key === 'fields' ? 'field' : block);
    }
  };
  for (const b of blocks) walk(b, (b as { type: string }).type);
  return out;
}

const RAW_MARKUP = ['<!channel>', '<@U123>', '<http://evil.example|click>'];

function expectNoRawMarkup(text: string | undefined, blocks: unknown[] | undefined): void {
  for (const s of [text ?? '', ...strings(blocks)]) {
    for (const raw of RAW_MARKUP) expect(s).not.toContain(raw);
  }
}

async function rejection(promise: Promise<unknown>): Promise<DeliveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeliveryError);
  return error as DeliveryError;
}

function renderPng(): Buffer {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32"><rect width="64" height="16" fill="#e55"/><rect y="16" width="40" height="16" fill="#fa4"/></svg>';
  return Buffer.from(new Resvg(svg).render().asPng());
}

describe('escapeMrkdwn', () => {
  it('turns Slack control sequences into text', () => {
    expect(escapeMrkdwn('<!channel>')).toBe('&lt;!channel&gt;');
    expect(escapeMrkdwn('<@U123> & <http://evil|click>')).toBe('&lt;@U123&gt; &amp; &lt;http://evil|click&gt;');
    // A literal entity in the input is text too, not something to pass through.
    expect(escapeMrkdwn('&lt;')).toBe('&amp;lt;');
  });

  it('replaces backticks so they cannot end a code span', () => {
    const out = escapeMrkdwn('f`x`y```z');
    expect(out).not.toContain('`');
    expect(out).toBe('f\u02CBx\u02CBy\u02CB\u02CB\u02CBz');
  });

  it('turns line breaks and NULs into spaces and drops other control and bidi characters', () => {
    expect(escapeMrkdwn('a\u0000b\nc\r\nd\te')).toBe('a b c  d e');
    expect(escapeMrkdwn('x\u0007\u001b[31my\u007F\u202Ez\u2066')).toBe('x[31myz');
  });

  it('keeps surrogate pairs and replaces lone surrogates', () => {
    expect(escapeMrkdwn('ok 😀')).toBe('ok 😀');
    expect(escapeMrkdwn('bad \uD800 x \uDC00')).toBe('bad \uFFFD x \uFFFD');
  });

  it('keeps plain @channel words inert', () => {
    expect(escapeMrkdwn('@channel @here @everyone @chan')).toBe('@\u2060channel @\u2060here @\u2060everyone @chan');
  });

  it('leaves ordinary symbol names alone', () => {
    expect(escapeMrkdwn('std::map::find (libstdc++.so.6) *ptr_a_')).toBe('std::map::find (libstdc++.so.6) *ptr_a_');
  });
});

describe('truncateMrkdwn', () => {
  it('returns text within the limit unchanged', () => {
    expect(truncateMrkdwn('abc', 3)).toBe('abc');
  });

  it('ends with an ellipsis and never cuts inside an entity', () => {
    expect(truncateMrkdwn('ab&amp;cd', 5)).toBe('ab…');
    expect(truncateMrkdwn('ab&amp;cd', 8)).toBe('ab&amp;…');
    const escaped = escapeMrkdwn('<a&b>'.repeat(200));
    for (let max = 1; max < 60; max++) {
      const out = truncateMrkdwn(escaped, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(out.endsWith('…')).toBe(true);
      // Every & still starts a whole entity.
      expect(out.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
    }
  });

  it('does not split a surrogate pair or one of our <…> links', () => {
    expect(truncateMrkdwn('😀😀😀', 4)).toBe('😀…');
    expect(truncateMrkdwn('see <http://x.example/a|y> now', 10)).toBe('see…');
  });

  it('closes a code span it cuts', () => {
    expect(truncateMrkdwn('`abcdefgh`', 6)).toBe('`abc…`');
  });
});

describe('mrkdwn markup of our own', () => {
  it('writes Slack date markup with the escaped ISO text as fallback', () => {
    const iso = '2026-05-01T03:04:05.000Z';
    expect(mrkdwnDate(iso)).toBe(`<!date^${Date.parse(iso) / 1000}^{date_short_pretty} {time}|${iso}>`);
    expect(mrkdwnDate('<!here>')).toBe('&lt;!here&gt;');
  });

  it('keeps a link whole when the URL has characters that would end it', () => {
    expect(mrkdwnLink('http://h/x?a=1&b=|<>', 'Open <it>')).toBe('<http://h/x?a=1&amp;b=%7C%3C%3E|Open &lt;it&gt;>');
  });
});

describe('slackMessage', () => {
  it('lays out header, fields, command line, top functions and the link button', () => {
    const message = incident();
    const { text, blocks } = slackMessage(message);
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'section', 'actions']);
    const texts = textObjects(blocks);
    expect(texts[0]).toEqual({ block: 'header', text: 'cpu_hot fired on web-1' });
    const fields = texts.filter((t) => t.block === 'field').map((t) => t.text);
    expect(fields).toEqual([
      '*Rule*\ncpu_hot',
      '*Host*\nweb-1',
      '*Process*\n`&lt;!channel&gt;` (pid 4242)',
      `*When*\n<!date^${Date.parse(message.firedAt) / 1000}^{date_short_pretty} {time}|2026-05-01T03:04:05.000Z>`,
      '*Trigger*\ncpu 99% of a core (above 80%)',
    ]);
    const top = texts.find((t) => t.text.startsWith('*Top functions*'));
    expect(top?.text.split('\n')).toEqual([
      '*Top functions* · 12,345 samples',
      '• `parse_json` · libapp.so — 45.5% (+41.2 pts)',
      '• `std::vector&lt;int&gt;::push_back` — 10.0% (new)',
      '• `old_fn` — 5.0% (-3.0 pts)',
    ]);
    expect(blocks.at(-1)).toEqual({
      type: 'actions',
      elements: [{ type: 'button', action_id: 'open_incident', text: { type: 'plain_text', text: 'Open incident' }, url: message.url }],
    });
    expect(text).toContain(`<${message.url}>`);
    expect(text).toContain('cpu_hot fired on web-1: cpu 99% of a core (above 80%) — &lt;!channel&gt; (pid 4242)');
    expectNoRawMarkup(text, blocks);
  });

  it('leaves out the process when the incident names none', () => {
    const { text, blocks } = slackMessage(incident({ process: undefined, title: 'manual capture on web-1' }));
    expect(blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'actions']);
    const fields = textObjects(blocks).filter((t) => t.block === 'field').map((t) => t.text.split('\n')[0]);
    expect(fields).toEqual(['*Rule*', '*Host*', '*When*', '*Trigger*']);
    expect(text).not.toContain('pid');
  });

  it('names the unit or cgroup a rule watched, and how idle the host was', () => {
    const message = incident({ process: undefined, cgroup: { path: '/system.slice/nginx.service', unit: 'nginx.service' }, idle: 'CPUs 45% idle (80% before)' });
    const { text, blocks } = slackMessage(message);
    const fields = textObjects(blocks).filter((t) => t.block === 'field').map((t) => t.text);
    expect(fields).toEqual([
      '*Rule*\ncpu_hot',
      '*Host*\nweb-1',
      '*Unit*\n`nginx.service`',
      `*When*\n<!date^${Date.parse(message.firedAt) / 1000}^{date_short_pretty} {time}|2026-05-01T03:04:05.000Z>`,
      '*Trigger*\ncpu 99% of a core (above 80%)',
      '*Host CPUs*\nCPUs 45% idle (80% before)',
    ]);
    expect(text).toContain('cpu_hot fired on web-1: cpu 99% of a core (above 80%) — nginx.service — top: parse_json 45.5%');
    // A cgroup that is no unit is named by its path, as untrusted text.
    const bare = textObjects(slackMessage(incident({ process: undefined, cgroup: { path: '/<!here>/job' } })).blocks).filter((t) => t.block === 'field');
    expect(bare.map((t) => t.text)).toContain('*Cgroup*\n`/&lt;!here&gt;/job`');
  });

  it('shows no change without a baseline, and no list without functions', () => {
    const noBaseline = incident({
      topFunctions: [
        { name: 'a', selfPercent: 60 },
        { name: 'b', selfPercent: 0.04 },
      ],
    });
    const top = textObjects(slackMessage(noBaseline).blocks).find((t) => t.text.startsWith('*Top functions*'));
    expect(top?.text.split('\n').slice(1)).toEqual(['• `a` — 60.0%', '• `b` — 0.0%']);
    // A memory rule's functions are of its page faults: the heading says so, and of how much.
    const memory = textObjects(slackMessage(incident({ topFunctions: [{ name: 'grow_table', selfPercent: 92 }], profile: { title: 'Page faults', amount: '350 MiB' } })).blocks);
    expect(memory.find((t) => t.text.startsWith('*Top functions'))?.text.split('\n')[0]).toBe('*Top functions by page faults* · 350 MiB');
    const none = slackMessage(incident({ topFunctions: [] })).blocks;
    expect(strings(none).some((s) => s.includes('Top functions'))).toBe(false);
  });

  it('keeps huge untrusted strings within Slack limits', () => {
    const huge = incident({
      title: `${'<t>'.repeat(100)} fired on web-1`,
      rule: 'r&'.repeat(2000),
      host: 'h'.repeat(5000),
      trigger: `cpu ${'9'.repeat(5000)}%`,
      process: { pid: 1, comm: '`'.repeat(300), cmdline: `/bin/x ${'--flag=<&> '.repeat(1000)}` },
      topFunctions: Array.from({ length: 5 }, (_, i) => ({
        name: `ns::Template<${'std::pair<int, long>, '.repeat(300)}>::f${i}`,
        module: `/${'dir/'.repeat(200)}lib${i}.so`,
        selfPercent: 10,
        changePoints: 1,
      })),
    });
    expect(huge.process?.cmdline.length).toBeGreaterThan(10_000);
    const { text, blocks } = slackMessage(huge);
    for (const t of textObjects(blocks)) {
      const limit = t.block === 'header' ? 150 : t.block === 'field' ? 2000 : 3000;
      expect(t.text.length, `${t.block}: ${t.text.slice(0, 40)}`).toBeLessThanOrEqual(limit);
      expect(t.text.replace(/&(amp|lt|gt);/g, '')).not.toContain('&');
      expect(t.text).not.toMatch(/<(?!!date\^)/);
    }
    const cmdline = textObjects(blocks).find((t) => t.block === 'context')?.text ?? '';
    expect(cmdline).toMatch(/^`\/bin\/x --flag=&lt;&amp;&gt; .*…`$/);
    // The message as a whole stays small enough to read on a phone.
    expect(JSON.stringify(blocks).length).toBeLessThan(6000);
    expect(text.length).toBeLessThan(1200);
    expect(text).toContain(huge.url);
  });
});

describe('SlackSender against a Slack Web API server', () => {
  let slack: SlackApiServer;

  beforeAll(async () => {
    slack = await startSlackApiServer({ token: TOKEN });
  });
  afterAll(async () => {
    await slack.close();
  });
  afterEach(() => {
    slack.messages.length = 0;
    slack.calls.length = 0;
  });

  const sender = (token = TOKEN, timeoutMs?: number): SlackSender =>
    new SlackSender({ target: 'ops-slack', token, channel: CHANNEL, apiUrl: slack.apiUrl, timeoutMs });

  it('posts blocks and the flamegraph PNG as one message', async () => {
    const png = renderPng();
    const message = incident();
    const receipt = await sender().send({ message, flamegraphPng: new Uint8Array(png) });

    const [posted] = await slack.waitForMessages(1);
    expect(slack.calls.map((c) => `${c.method} ${c.status}`)).toEqual([
      'files.getUploadURLExternal 200',
      'upload 200',
      'files.completeUploadExternal 200',
    ]);
    expect(posted?.via).toBe('files.completeUploadExternal');
    expect(posted?.channel).toBe(CHANNEL);
    expect(posted?.files).toHaveLength(1);
    const file = posted?.files[0];
    expect(file?.filename).toBe(`flamegraph-${message.id}.png`);
    expect(file?.title).toBe(`Flamegraph of incident ${message.id}`);
    expect(file?.bytes.equals(png)).toBe(true);
    expect(receipt).toBe(`slack ${CHANNEL} file ${file?.id}`);
    // Blocks, not initial_comment: Slack drops the blocks when both are given.
    expect(posted?.text).toBeUndefined();
    expect(posted?.blocks).toEqual(slackMessage(message).blocks);
    const all = strings(posted?.blocks);
    expect(all).toContain(message.url);
    expect(all.join('\n')).toContain('`parse_json`');
    expect(all.join('\n')).toContain('std::vector&lt;int&gt;::push_back');
    expect(all.join('\n')).toContain('`&lt;!channel&gt;` (pid 4242)');
    expectNoRawMarkup(posted?.text, posted?.blocks);
  });

  it('uses chat.postMessage without a PNG, with the link in the fallback text', async () => {
    const message = incident();
    const receipt = await sender().send({ message });
    const [posted] = await slack.waitForMessages(1);
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage']);
    expect(posted?.via).toBe('chat.postMessage');
    expect(posted?.channel).toBe(CHANNEL);
    expect(posted?.files).toEqual([]);
    expect(posted?.text).toContain(message.url);
    expect(posted?.text).toContain('&lt;!channel&gt;');
    expect(posted?.blocks).toEqual(slackMessage(message).blocks);
    expectNoRawMarkup(posted?.text, posted?.blocks);
    expect(receipt).toMatch(new RegExp(`^slack ${CHANNEL} ts \\d+\\.\\d{6}$`));
  });

  it('reports a refused token as permanent, without the token', async () => {
    const wrong = 'xoxb-wrong-token-value';
    const error = await rejection(sender(wrong).send({ message: incident() }));
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain('invalid_auth');
    expect(error.message).toContain('ops-slack');
    expect(error.message).toContain('tail2.yaml');
    expect(error.message).not.toContain(wrong);
    expect(slack.calls).toEqual([expect.objectContaining({ method: 'chat.postMessage', error: 'invalid_auth' })]);
    expect(slack.messages).toEqual([]);
  });

  it('reports an unknown channel as permanent with what to do', async () => {
    slack.script('chat.postMessage', [{ error: 'channel_not_found' }]);
    const error = await rejection(sender().send({ message: incident() }));
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain('channel_not_found');
    expect(error.message).toContain(CHANNEL);
    expect(error.message).toContain('invite');
  });

  it('treats HTTP 500 and Slack internal errors as transient, once each (no client retries)', async () => {
    slack.script('chat.postMessage', [{ status: 500 }]);
    const http = await rejection(sender().send({ message: incident() }));
    expect(http.kind).toBe('transient');
    expect(http.message).toContain('500');

    slack.script('chat.postMessage', [{ error: 'internal_error' }]);
    const platform = await rejection(sender().send({ message: incident() }));
    expect(platform.kind).toBe('transient');
    expect(platform.message).toContain('internal_error');
    expect(slack.calls.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.postMessage']);
  });

  it('passes on Retry-After of a 429 without waiting', async () => {
    slack.script('chat.postMessage', [{ status: 429, retryAfterS: 3 }]);
    const started = Date.now();
    const error = await rejection(sender().send({ message: incident() }));
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(3000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(slack.calls).toHaveLength(1);
  });

  it('classifies failures of each step of the upload', async () => {
    const png = new Uint8Array(renderPng());
    slack.script('upload', [{ status: 503 }]);
    const upload = await rejection(sender().send({ message: incident(), flamegraphPng: png }));
    expect(upload.kind).toBe('transient');

    slack.script('files.completeUploadExternal', [{ status: 429, retryAfterS: 12 }]);
    const complete = await rejection(sender().send({ message: incident(), flamegraphPng: png }));
    expect(complete.kind).toBe('rate_limited');
    expect(complete.retryAfterMs).toBe(12_000);

    slack.script('files.getUploadURLExternal', [{ error: 'missing_scope' }]);
    const scope = await rejection(sender().send({ message: incident(), flamegraphPng: png }));
    expect(scope.kind).toBe('permanent');
    expect(scope.message).toContain('files:write');
    expect(slack.messages).toEqual([]);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const sockets: Socket[] = [];
    const silent: NetServer = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const slow = new SlackSender({ target: 'ops-slack', token: TOKEN, channel: CHANNEL, apiUrl: `http://127.0.0.1:${port}/api/`, timeoutMs: 300 });
      const error = await rejection(slow.send({ message: incident() }));
      expect(error.kind).toBe('transient');
      expect(error.message).toContain('no answer within 300 ms');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('SlackWebhookSender against a Slack webhook', () => {
  let slack: SlackApiServer;

  beforeAll(async () => {
    slack = await startSlackApiServer({ token: TOKEN });
  });
  afterAll(async () => {
    await slack.close();
  });
  afterEach(() => {
    slack.messages.length = 0;
    slack.calls.length = 0;
  });

  const webhook = (url = slack.webhookUrl): SlackWebhookSender => new SlackWebhookSender({ target: 'ops-hook', url, timeoutMs: 5000 });
  const secretOf = (url: string): string => new URL(url).pathname.split('/').at(-1) ?? '';

  it('delivers the same blocks and text as the Web API sender', async () => {
    const message = incident();
    const receipt = await webhook().send({ message, flamegraphPng: new Uint8Array(renderPng()) });
    const [posted] = await slack.waitForMessages(1);
    expect(posted?.via).toBe('webhook');
    expect(posted?.files).toEqual([]);
    expect({ text: posted?.text, blocks: posted?.blocks }).toEqual(slackMessage(message));
    expectNoRawMarkup(posted?.text, posted?.blocks);
    expect(receipt).toBe('slack webhook of notifier ops-hook');
    expect(receipt).not.toContain(secretOf(slack.webhookUrl));
  });

  it('treats a removed webhook (404 no_service) as permanent, without its URL', async () => {
    const gone = `${slack.webhookUrl}0`;
    const error = await rejection(webhook(gone).send({ message: incident() }));
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain('404 no_service');
    expect(error.message).toContain('ops-hook');
    expect(error.message).not.toContain(secretOf(gone));
  });

  it('passes on Retry-After of a 429', async () => {
    slack.script('webhook', [{ status: 429, retryAfterS: 7 }]);
    const error = await rejection(webhook().send({ message: incident() }));
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBe(7000);
  });

  it('treats 500 as transient', async () => {
    slack.script('webhook', [{ status: 500, body: 'internal error' }]);
    const error = await rejection(webhook().send({ message: incident() }));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('500');
  });

  it('treats a refused connection as transient, without the URL', async () => {
    const closed = await startSlackApiServer({ token: TOKEN });
    const url = closed.webhookUrl;
    await closed.close();
    const error = await rejection(webhook(url).send({ message: incident() }));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).not.toContain(secretOf(url));
  });
});
