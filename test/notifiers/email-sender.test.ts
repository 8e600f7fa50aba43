import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Resvg } from '@resvg/resvg-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Tail2Error } from '../../daemon/model/tail2-error.js';
import { emailMessage, MAX_SUBJECT_LENGTH } from '../../notifiers/email-message.js';
import { EmailSender } from '../../notifiers/email-sender.js';
import { DeliveryError, type IncidentMessage } from '../../notifiers/delivery.js';
import { startSmtpTestServer, type SmtpTestServer } from '../helpers/smtp-test-server.js';

const URL_OF_INCIDENT = 'https://tail2.example.com/incidents/20240501-120000-cpu-hot';

function incident(overrides: Partial<IncidentMessage> = {}): IncidentMessage {
  return {
    id: '20240501-120000-cpu-hot',
    title: 'cpu-hot fired on web-1',
    rule: 'cpu-hot',
    host: 'web-1',
    firedAt: '2024-05-01T12:00:00.000Z',
    process: { pid: 4242, comm: 'node', cmdline: 'node /srv/app/server.js --port 8080' },
    trigger: 'cpu 99% of a core (above 80%)',
    topFunctions: [
      { name: 'parseRequest', module: '/srv/app/server.js', selfPercent: 41.25, changePoints: 30.04 },
      { name: 'memcpy', module: 'libc.so.6', selfPercent: 12.5, changePoints: -2.46 },
      { name: 'gc', selfPercent: 3, changePoints: 0.01 },
    ],
    samples: 1234,
    url: URL_OF_INCIDENT,
    ...overrides,
  };
}

const HOSTILE_COMM = '<script>alert(1)</script>';
const HOSTILE_SYMBOL = 'operator<<"&"(std::ostream&)';

/** A real 24×8 PNG, as resvg writes the flamegraph. */
function renderPng(): Buffer {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="8"><rect width="12" height="8" fill="#e5522b"/><rect x="12" width="12" height="8" fill="#f2a33a"/></svg>';
  return Buffer.from(new Resvg(svg).render().asPng());
}

/** Problems libxml2's HTML parser finds (unclosed or misnested tags, bad attributes). */
function htmlProblems(html: string): string {
  const result = spawnSync('xmllint', ['--html', '--noout', '-'], { input: html, encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run xmllint (apt-get install -y libxml2-utils): ${result.error.message}`);
  return result.stderr;
}

describe('emailMessage', () => {
  const cid = 'flamegraph-20240501-120000-cpu-hot@tail2';

  it('says who, what and when in the subject, the HTML and the text', () => {
    const { subject, html, text } = emailMessage(incident(), { hasImage: true, imageCid: cid });
    expect(subject).toBe('[tail2] cpu-hot fired on web-1 — cpu 99% of a core (above 80%)');

    expect(html).toContain('<h1 style="margin:4px 0 0 0;');
    expect(html).toMatch(/<th [^>]*>Process<\/th><td [^>]*><span [^>]*>node<\/span> \(pid 4242\)<br><span [^>]*>node \/srv\/app\/server\.js --port 8080<\/span>/);
    expect(html).toMatch(/>When<\/th><td [^>]*>2024-05-01T12:00:00\.000Z \(Wed, 01 May 2024 12:00:00 UTC\)</);
    expect(html).toMatch(/>Trigger<\/th><td [^>]*>cpu 99% of a core \(above 80%\)</);
    expect(html).toMatch(/<img src="cid:flamegraph-20240501-120000-cpu-hot@tail2" alt="Flamegraph of node \(pid 4242\) in the trigger window" width="1200" style="[^"]*max-width:1200px/);
    // Rows hottest first, self share to one decimal, change signed.
    const rows = [...html.matchAll(/<tr><td [^>]*><span [^>]*>([^<]+)<\/span>.*?<td align="right" [^>]*>([^<]+)<\/td><td align="right" [^>]*>([^<]+)<\/td><\/tr>/g)].map((m) => m.slice(1));
    expect(rows).toEqual([
      ['parseRequest', '41.3%', '+30.0 pts'],
      ['memcpy', '12.5%', '-2.5 pts'],
      ['gc', '3.0%', '0.0 pts'],
    ]);
    expect(html).toContain('<span style="font-size:11px;color:#6b7280;">libc.so.6</span>');
    expect(html).toMatch(new RegExp(`<a href="${URL_OF_INCIDENT}" [^>]*>Open incident</a>`));
    expect(html).not.toMatch(/<script|<style|<link|https?:\/\/(?!tail2\.example\.com)/i);
    expect(htmlProblems(html)).toBe('');

    expect(text.split('\n').slice(0, 10)).toEqual([
      'cpu-hot fired on web-1',
      '',
      'Rule:     cpu-hot',
      'Host:     web-1',
      'Process:  node (pid 4242)',
      'Command:  node /srv/app/server.js --port 8080',
      'When:     2024-05-01T12:00:00.000Z (Wed, 01 May 2024 12:00:00 UTC)',
      'Trigger:  cpu 99% of a core (above 80%)',
      'Samples:  1234',
      '',
    ]);
    expect(text).toContain(
      [
        'Top functions (self share, change against the baseline):',
        '  1.  41.3%  +30.0 pts  parseRequest (/srv/app/server.js)',
        '  2.  12.5%   -2.5 pts  memcpy (libc.so.6)',
        '  3.   3.0%    0.0 pts  gc',
        '',
      ].join('\n'),
    );
    expect(text).toContain(`Open incident: ${URL_OF_INCIDENT}\n`);

    // A memory rule's functions are of its page faults: the facts and the heading say so.
    const memory = emailMessage(incident({ profile: { title: 'Page faults', amount: '350 MiB' } }), { hasImage: true, imageCid: 'x@tail2' });
    expect(memory.text).toContain('Page faults: 350 MiB\n');
    expect(memory.text).not.toContain('Samples:');
    expect(memory.text).toContain('Top functions by page faults over the captured window (self share):');
    expect(memory.html).toContain('the captured window’s page faults taken in the function itself');
    expect(memory.html).toContain('Top functions by page faults</th>');
  });

  it('escapes process names and symbols, and keeps untrusted text on one line', () => {
    const message = incident({
      title: 'cpu-hot fired on web-1\r\nBcc: evil@example.com',
      trigger: 'cpu 99%\n\u0007of a core',
      process: { pid: 7, comm: HOSTILE_COMM, cmdline: `${HOSTILE_COMM} --x="1" & y\nOpen incident: https://evil.example.com` },
      topFunctions: [{ name: HOSTILE_SYMBOL, module: '<lib>.so', selfPercent: 50 }],
    });
    const { subject, html, text } = emailMessage(message, { hasImage: true, imageCid: cid });
    expect(subject).toBe('[tail2] cpu-hot fired on web-1 Bcc: evil@example.com — cpu 99% of a core');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;</span> (pid 7)');
    expect(html).toContain('--x=&quot;1&quot; &amp; y Open incident');
    expect(html).toContain('operator&lt;&lt;&quot;&amp;&quot;(std::ostream&amp;)');
    expect(html).toContain('&lt;lib&gt;.so');
    expect(html).toContain('alt="Flamegraph of &lt;script&gt;alert(1)&lt;/script&gt; (pid 7) in the trigger window"');
    expect(htmlProblems(html)).toBe('');
    // The cmdline cannot fake a line of its own in the text part.
    expect(text.split('\n').filter((line) => line.startsWith('Open incident:'))).toEqual([`Open incident: ${URL_OF_INCIDENT}`]);
    expect(text).toContain(`Process:  ${HOSTILE_COMM} (pid 7)\n`);
  });

  it('leaves out what the incident does not have: process, image, baseline, functions', () => {
    const noProcess = emailMessage(incident({ process: undefined, title: 'manual capture on web-1' }), { hasImage: false, imageCid: cid });
    expect(noProcess.html).not.toContain('>Process<');
    expect(noProcess.html).not.toContain('pid');
    expect(noProcess.html).not.toContain('<img');
    expect(noProcess.html).toContain('No flamegraph image for this incident');
    expect(noProcess.text).not.toMatch(/^Process:/m);
    expect(noProcess.text).not.toMatch(/^Command:/m);

    const withImage = emailMessage(incident({ process: undefined }), { hasImage: true, imageCid: cid });
    expect(withImage.html).toContain('alt="Flamegraph of web-1 in the trigger window"');

    const noBaseline = emailMessage(
      incident({ topFunctions: [{ name: 'spin', selfPercent: 99.94 }, { name: 'idle', selfPercent: 0.06 }] }),
      { hasImage: true, imageCid: cid },
    );
    expect(noBaseline.html).not.toContain('>Change</th>');
    expect(noBaseline.html).not.toContain('pts');
    expect(noBaseline.html).toMatch(/>spin<\/span><\/td><td align="right" [^>]*>99\.9%<\/td><\/tr>/);
    expect(noBaseline.text).toContain('no baseline to compare with');
    expect(noBaseline.text).toContain('\n  1.  99.9%  spin\n  2.   0.1%  idle\n');

    const noFunctions = emailMessage(incident({ topFunctions: [], samples: 0 }), { hasImage: false, imageCid: cid });
    expect(noFunctions.html).toContain('No samples in the trigger window.');
    expect(noFunctions.html).not.toContain('>Top functions</th>');
    expect(noFunctions.text).toContain('No samples in the trigger window.');
  });

  it('names the unit a rule watched, how idle the host was, and whose samples the image shows', () => {
    const message = incident({ process: undefined, cgroup: { path: '/system.slice/nginx.service', unit: 'nginx.service' }, idle: 'CPUs 45% idle (80% before)' });
    const { html, text } = emailMessage(message, { hasImage: true, imageCid: cid, imageOf: 'nginx.service' });
    expect(html).toMatch(/>Unit<\/th><td [^>]*><span [^>]*>nginx\.service<\/span></);
    expect(html).toMatch(/>Host CPUs<\/th><td [^>]*>CPUs 45% idle \(80% before\)</);
    expect(html).toContain('alt="Flamegraph of nginx.service in the trigger window"');
    expect(text).toMatch(/^Unit: {5}nginx\.service$/m);
    expect(text).toMatch(/^Host CPUs: CPUs 45% idle \(80% before\)$/m);
    expect(htmlProblems(html)).toBe('');
    const hostile = emailMessage(incident({ process: undefined, cgroup: { path: '/a<b>\n/c' } }), { hasImage: true, imageCid: cid, imageOf: '/a<b>\n/c' });
    expect(hostile.html).toContain('>/a&lt;b&gt; /c</span>');
    expect(hostile.html).toContain('alt="Flamegraph of /a&lt;b&gt; /c in the trigger window"');
    expect(hostile.text).toMatch(/^Cgroup: {3}\/a<b> \/c$/m);
  });

  it('cuts a long command line and a long subject', () => {
    const cmdline = `java ${'-Dprop=value '.repeat(100)}-jar END-OF-CMDLINE.jar`;
    const { subject, html, text } = emailMessage(incident({ process: { pid: 1, comm: 'java', cmdline }, trigger: 'x'.repeat(400) }), {
      hasImage: true,
      imageCid: cid,
    });
    expect(html).not.toContain('END-OF-CMDLINE');
    const shown = /<span [^>]*word-break:break-all;">(java [^<]*)<\/span>/.exec(html)?.[1];
    expect(shown).toMatch(/^java -Dprop=value .*…$/);
    expect(Array.from(shown ?? '').length).toBe(300);
    expect(text).not.toContain('END-OF-CMDLINE');

    expect(Array.from(subject).length).toBe(MAX_SUBJECT_LENGTH);
    expect(subject).toMatch(/^\[tail2\] cpu-hot fired on web-1 — x+…$/);
  });

  it('links only http(s) URLs; anything else is shown as text', () => {
    const js = emailMessage(incident({ url: 'javascript:alert(document.cookie)' }), { hasImage: false, imageCid: cid });
    expect(js.html).not.toContain('href=');
    expect(js.html).toContain('Incident page: javascript:alert(document.cookie)</p>');

    const quoted = emailMessage(incident({ url: 'https://tail2.example.com/incidents/a"onmouseover="alert(1)' }), { hasImage: false, imageCid: cid });
    const hrefs = [...quoted.html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual(['https://tail2.example.com/incidents/a%22onmouseover=%22alert(1)', 'https://tail2.example.com/incidents/a%22onmouseover=%22alert(1)']);
  });

  it('keeps an unparsable time as given', () => {
    const { html } = emailMessage(incident({ firedAt: 'yesterday <noon>' }), { hasImage: false, imageCid: cid });
    expect(html).toMatch(/>When<\/th><td [^>]*>yesterday &lt;noon&gt;</);
  });
});

describe('EmailSender with a real SMTP server', () => {
  let server: SmtpTestServer;
  const png = renderPng();
  const senders: EmailSender[] = [];

  function sender(overrides: Partial<ConstructorParameters<typeof EmailSender>[0]> = {}): EmailSender {
    const s = new EmailSender({ target: 'ops-mail', smtp: server.url, from: 'tail2 <tail2@example.com>', to: ['a@example.com', 'b@example.com'], timeoutMs: 5000, ...overrides });
    senders.push(s);
    return s;
  }

  async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeliveryError);
    return error as DeliveryError;
  }

  beforeAll(async () => {
    server = await startSmtpTestServer();
  });

  afterAll(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await server.close();
  });

  beforeEach(async () => {
    await server.start();
    server.received.splice(0);
    server.rejectRecipients.clear();
    server.failTemporarily(0);
  });

  it('delivers HTML and text with the flamegraph inline, referenced by its cid', async () => {
    const receipt = await sender().send({ message: incident(), flamegraphPng: new Uint8Array(png) });
    expect(receipt).toMatch(/^email to a@example\.com, b@example\.com \(message-id <[^<>\s]+>\)$/);

    const [mail] = await server.waitForMail(1);
    expect(mail.subject).toBe('[tail2] cpu-hot fired on web-1 — cpu 99% of a core (above 80%)');
    expect(mail.from?.value).toEqual([{ address: 'tail2@example.com', name: 'tail2' }]);
    expect(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : mail.to).toEqual(['a@example.com', 'b@example.com']);
    expect(mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(receipt).toContain(`(message-id ${mail.messageId})`);

    const html = mail.html || '';
    const text = mail.text ?? '';
    expect(html).toContain('<h1 ');
    expect(text).toContain('Process:  node (pid 4242)');
    expect(html).toContain(`href="${URL_OF_INCIDENT}"`);
    expect(text).toContain(`Open incident: ${URL_OF_INCIDENT}`);

    const src = /<img src="cid:([^"]+)"/.exec(html)?.[1];
    expect(src).toBe('flamegraph-20240501-120000-cpu-hot@tail2');
    expect(mail.attachments).toHaveLength(1);
    const [image] = mail.attachments;
    expect(image.cid).toBe(src);
    expect(image.contentId).toBe(`<${src}>`);
    expect(image.related).toBe(true);
    expect(image.contentType).toBe('image/png');
    expect(image.contentDisposition).toBe('inline');
    expect(image.content.equals(png)).toBe(true);
  });

  it('sends without an attachment when the incident has no flamegraph', async () => {
    await sender({ to: ['a@example.com'] }).send({ message: incident() });
    const [mail] = await server.waitForMail(1);
    expect(mail.attachments).toEqual([]);
    expect(mail.html || '').not.toContain('<img');
  });

  it('keeps hostile process names and symbols escaped and out of the headers', async () => {
    const message = incident({
      title: 'cpu-hot fired on web-1\r\nBcc: evil@example.com',
      trigger: 'cpu 99%\r\nX-Injected: yes',
      process: { pid: 7, comm: `${HOSTILE_COMM}\r\nBcc: x@y.example`, cmdline: HOSTILE_COMM },
      topFunctions: [{ name: HOSTILE_SYMBOL, selfPercent: 50 }],
    });
    await sender({ to: ['a@example.com'] }).send({ message, flamegraphPng: png });
    const [mail] = await server.waitForMail(1);
    const headerNames = mail.headerLines.map((h) => h.key);
    expect(headerNames).not.toContain('bcc');
    expect(headerNames).not.toContain('x-injected');
    expect(mail.bcc).toBeUndefined();
    expect(mail.subject).toBe('[tail2] cpu-hot fired on web-1 Bcc: evil@example.com — cpu 99% X-Injected: yes');

    const html = mail.html || '';
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Bcc: x@y.example</span> (pid 7)');
    expect(html).toContain('operator&lt;&lt;&quot;&amp;&quot;(std::ostream&amp;)');
  });

  it('gives up on a recipient the server refuses (550), naming it', async () => {
    server.rejectRecipients.add('nobody@example.com');
    const error = await deliveryError(sender({ to: ['nobody@example.com'] }).send({ message: incident() }));
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain('ops-mail');
    expect(error.message).toContain('nobody@example.com (550 5.1.1 <nobody@example.com>: Recipient address rejected');
    expect(server.received).toEqual([]);
  });

  it('delivers to the accepted recipients and names the refused ones in the receipt', async () => {
    server.rejectRecipients.add('nobody@example.com');
    const receipt = await sender({ to: ['a@example.com', 'nobody@example.com'] }).send({ message: incident() });
    expect(receipt).toMatch(/^email to a@example\.com \(message-id <[^>]+>\); refused: nobody@example\.com \(550 5\.1\.1 <nobody@example\.com>: Recipient address rejected: User unknown \(test\)\)$/);
    await server.waitForMail(1);
  });

  it('retries after a temporary failure (451) and then delivers', async () => {
    server.failTemporarily(1);
    const s = sender();
    const error = await deliveryError(s.send({ message: incident() }));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('451');
    expect(server.received).toEqual([]);

    await expect(s.send({ message: incident() })).resolves.toMatch(/^email to /);
    await server.waitForMail(1);
  });

  it('retries while the server is down (ECONNREFUSED) and delivers once it is back', async () => {
    const s = sender();
    await server.stop();
    const error = await deliveryError(s.send({ message: incident() }));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain(`cannot reach smtp://127.0.0.1:${server.port}`);

    await server.start();
    await expect(s.send({ message: incident() })).resolves.toMatch(/^email to a@example\.com, b@example\.com /);
    expect(await server.waitForMail(1)).toHaveLength(1);
  });

  it('gives up on a refused login without ever showing the password', async () => {
    const password = 'S3cret-Pa55word';
    const s = sender({ smtp: `smtp://tail2:${password}@127.0.0.1:${server.port}` });
    const error = await deliveryError(s.send({ message: incident() }));
    expect(error.kind).toBe('permanent');
    expect(error.message).toContain(`email notifier ops-mail: smtp://127.0.0.1:${server.port} refused the login (535`);
    expect(error.message).toContain('check the SMTP credentials in tail2.yaml');
    expect(error.message).not.toContain(password);
    expect(error.message).not.toContain('tail2:');
    expect(JSON.stringify(error)).not.toContain(password);
  });

  it('retries when the server never greets (greeting timeout)', async () => {
    const silent: Server = createServer((socket: Socket) => socket.on('error', () => {}));
    const sockets = new Set<Socket>();
    silent.on('connection', (socket: Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const error = await deliveryError(sender({ smtp: `smtp://127.0.0.1:${port}`, timeoutMs: 300 }).send({ message: incident() }));
      expect(error.kind).toBe('transient');
      // The greeting and the idle-socket timers both run out after timeoutMs; either may fire first.
      expect(error.message).toMatch(/did not answer in time \((GREETING|SOCKET)_TIMEOUT\); will retry$/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses a configuration it cannot use', () => {
    expect(() => new EmailSender({ target: 'x', smtp: 'http://mail.example.com', from: 'a@example.com', to: ['b@example.com'] })).toThrow(Tail2Error);
    expect(() => new EmailSender({ target: 'x', smtp: 'not a url', from: 'a@example.com', to: ['b@example.com'] })).toThrow(/smtp is not a URL/);
    expect(() => new EmailSender({ target: 'x', smtp: 'smtp://mail.example.com', from: 'a@example.com', to: [] })).toThrow(/no recipient/);
  });
});
