import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture } from '../helpers/fixtures.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';
import { startSmtpTestServer, type SmtpTestServer } from '../helpers/smtp-test-server.js';

// A process started with secrets on its command line fires a rule on the real daemon: nothing the
// daemon stores (files, index, its Redis), serves (API, pages) or sends (Slack, email) holds them.

const SLACK_TOKEN = 'xoxb-redaction-token';
const SECRETS = ['hunter2-pw', 'tok-abc-7731', 'p4ss-9e1', 'aws-x-5521', 'extra-pin-4242'];
const ARGS = ['0', '--password=hunter2-pw', '--token', 'tok-abc-7731', 'https://u:p4ss-9e1@h/', 'AWS_SECRET_ACCESS_KEY=aws-x-5521', '--sim-pin', 'extra-pin-4242', '--mode', 'fast'];
const R = '<redacted>';

let slack: SlackApiServer;
let smtp: SmtpTestServer;
let daemon: RunningDaemon | undefined;
let burner: ChildProcess | undefined;

beforeAll(async () => {
  process.env.TAIL2_TEST_REDACT_SLACK_TOKEN = SLACK_TOKEN;
  slack = await startSlackApiServer({ token: SLACK_TOKEN });
  smtp = await startSmtpTestServer();
});

afterAll(async () => {
  burner?.kill('SIGKILL');
  await daemon?.stop('SIGKILL');
  await slack?.close();
  await smtp?.close();
});

/** Every file under `dir`, gzip files also uncompressed. */
function filesUnder(dir: string): Array<[path: string, content: Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (statSync(path).isFile()) {
      const content = readFileSync(path);
      out.push([path, content]);
      if (name.endsWith('.gz')) out.push([`${path} (gunzipped)`, gunzipSync(content)]);
    }
  }
  return out;
}

function expectNoSecret(where: string, text: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), `${where} holds ${secret}`).toBe(false);
}

describe('command-line redaction in the real daemon', () => {
  it('stores, serves and sends the command line with its secrets replaced', async () => {
    const rules = [
      'rules:',
      '  - name: burner-spin',
      '    metric: cpu',
      '    scope: { process: "^burner$" }',
      '    above: 80%',
      '    for: 2s',
      '    capture: { before: 5s, after: 1s }',
      '    cooldown: 1h',
      '    notify: [oncall-slack, oncall-email]',
    ].join('\n');
    const config = [
      'redact: { names: [pin] }',
      'notifiers:',
      `  oncall-slack: { type: slack, token: "\${TAIL2_TEST_REDACT_SLACK_TOKEN}", channel: C0123456, api_url: "${slack.apiUrl}" }`,
      `  oncall-email: { type: email, smtp: "${smtp.url}", from: "tail2@test", to: [oncall@example.com] }`,
    ].join('\n');
    const slackBefore = slack.messages.length;
    const mailBefore = smtp.received.length;
    daemon = await startDaemon('redaction', rules, config, { web: 'public_url: "https://tail2.example.net/"' });
    const d = daemon;
    const binary = buildCFixture('burner');
    burner = spawn(binary, ARGS, { stdio: 'ignore' });
    const { id } = await d.waitFor('an incident', async () => (await d.get<{ incidents: Array<{ id: string }> }>('/api/incidents')).incidents[0]);
    await d.waitFor('both notifications delivered', async () => {
      const record = await d.get<IncidentRecord>(`/api/incidents/${id}`);
      return record.notifications.every((n) => n.status === 'delivered') ? true : undefined;
    });
    burner.kill('SIGKILL');

    // What the incident says the process was: every secret replaced, everything else kept.
    const expected = `${binary} 0 --password=${R} --token ${R} https://u:${R}@h/ AWS_SECRET_ACCESS_KEY=${R} --sim-pin ${R} --mode fast`;
    const record = await d.get<IncidentRecord>(`/api/incidents/${id}`);
    expect(record.process?.cmdline).toBe(expected);
    const list = await d.get<{ incidents: Array<{ process: { cmdline: string } | null }> }>('/api/incidents');
    expect(list.incidents[0].process?.cmdline).toBe(expected);

    // Served: the API and the pages.
    for (const path of [`/api/incidents/${id}`, '/api/incidents', '/api/rules', '/api/status', `/incidents/${id}`, '/', '/rules', `/api/incidents/${id}/summary.json`]) {
      const response = await fetch(d.baseUrl + path);
      expect(response.status, path).toBe(200);
      expectNoSecret(path, await response.text());
    }
    const page = await (await fetch(`${d.baseUrl}/incidents/${id}`)).text();
    expect(page).toContain('--password=&lt;redacted&gt;');

    // Sent: the Slack message and the email.
    const messages = slack.messages.slice(slackBefore);
    expect(messages).toHaveLength(1);
    const blocks = JSON.stringify(messages[0].blocks);
    expect(blocks).toContain('--password=&lt;redacted&gt;');
    expectNoSecret('the Slack message', JSON.stringify(messages[0]));
    const mail = (await smtp.waitForMail(mailBefore + 1))[mailBefore];
    expect(String(mail.text)).toContain(`--password=${R}`);
    expectNoSecret('the email', `${String(mail.text)}\n${String(mail.html)}\n${String(mail.subject)}`);

    // Stored, stopped first so SQLite's WAL and Redis's AOF are on disk: every file of the state
    // folder, the index and the AOF (with the queued notification jobs) included; and the log.
    expect(await d.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    const files = filesUnder(join(d.dir, 'state'));
    expect(files.map(([path]) => path).some((path) => path.endsWith('index.sqlite'))).toBe(true);
    expect(files.map(([path]) => path).some((path) => path.includes(join('state', 'redis')))).toBe(true);
    expect(files.some(([, content]) => content.includes(`--password=${R}`))).toBe(true);
    for (const [path, content] of files) expectNoSecret(path, content.toString('latin1'));
    expectNoSecret('the daemon log', d.log());
  });
});
