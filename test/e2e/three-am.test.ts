import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { parseFolded } from '../../daemon/formats/folded.js';
import { decodeProfileSamples } from '../../daemon/formats/profile-samples.js';
import { launchChromium, screenshot, watchPage } from '../helpers/browser.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture, repoRoot } from '../helpers/fixtures.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';
import { startSmtpTestServer, type SmtpTestServer } from '../helpers/smtp-test-server.js';

// The seed's story, end to end: a database serves queries at a third of a core until an extension
// function falls into an infinite loop. tail2d runs the example rules plus one for the database,
// with a Slack workspace (a local server speaking its Web API) and a real SMTP server. By the
// time the on-call engineer looks, the alert's flamegraph must already name the loop.

const TOKEN = 'xoxb-three-am';
const LOOP_AFTER_S = 8;
const RULE = [
  '  - name: db-spin',
  '    metric: cpu',
  '    scope: { process: "^fakedb$" }',
  '    above: 80%',
  '    for: 3s',
  '    capture: { before: 20s, after: 2s }',
  '    cooldown: 1h',
  '    notify: [oncall-slack, oncall-email]',
].join('\n');

let slack: SlackApiServer;
let smtp: SmtpTestServer;
let daemon: RunningDaemon;
let db: ChildProcess;
let browser: Browser | undefined;

beforeAll(async () => {
  process.env.TAIL2_TEST_SLACK_TOKEN = TOKEN;
  slack = await startSlackApiServer({ token: TOKEN });
  smtp = await startSmtpTestServer();
  const exampleRules = readFileSync(join(repoRoot, 'config', 'rules.example.yaml'), 'utf8');
  daemon = await startDaemon(
    'three-am',
    `${exampleRules.trimEnd()}\n\n  # The database of the story.\n${RULE}\n`,
    [
      'notifiers:',
      `  oncall-slack: { type: slack, token: "\${TAIL2_TEST_SLACK_TOKEN}", channel: C0ONCALL, api_url: "${slack.apiUrl}" }`,
      `  oncall-email: { type: email, smtp: "${smtp.url}", from: "tail2@db-1", to: [oncall@example.com] }`,
    ].join('\n'),
  );
});

afterAll(async () => {
  db?.kill('SIGKILL');
  await browser?.close();
  await daemon?.stop('SIGKILL');
  await slack?.close();
  await smtp?.close();
});

describe('the 3am incident', () => {
  it('pages with the looping function already on top, and the link opens the incident', async () => {
    db = spawn(buildCFixture('fakedb'), [String(LOOP_AFTER_S)], { stdio: 'ignore' });
    const loopStartsAt = Date.now() + LOOP_AFTER_S * 1000;

    // for (3 s) + after (2 s) + a few seconds of collection, symbolization and writing.
    const incident = await daemon.waitFor(
      'the db-spin incident',
      async () => (await daemon.get<{ incidents: Array<{ id: string; rule: string }> }>('/api/incidents')).incidents.find((i) => i.rule === 'db-spin'),
      LOOP_AFTER_S * 1000 + 3000 + 2000 + 15_000,
    );
    const record = await daemon.get<IncidentRecord>(`/api/incidents/${incident.id}`);
    expect(record.process).toMatchObject({ pid: db.pid, comm: 'fakedb' });
    expect(Date.parse(record.fired_at)).toBeGreaterThan(loopStartsAt);

    // The flamegraph's hottest leaf in the database is the extension's loop.
    const leaves = new Map<string, number>();
    for (const [path, count] of parseFolded((await daemon.incidentFile(incident.id, 'stacks.folded')).toString('utf8'))) {
      if (!path.startsWith('fakedb;')) continue;
      const leaf = path.slice(path.lastIndexOf(';') + 1);
      leaves.set(leaf, (leaves.get(leaf) ?? 0) + count);
    }
    const hottest = [...leaves].sort((a, b) => b[1] - a[1])[0];
    expect(hottest[0]).toBe('ext_fuzzy_match_spin');
    const summary = JSON.parse((await daemon.incidentFile(incident.id, 'summary.json')).toString('utf8')) as { topFunctions: { bySelf: Array<{ name: string }> }; grew: Array<{ name: string }> };
    expect(summary.topFunctions.bySelf[0].name).toBe('ext_fuzzy_match_spin');
    expect(summary.grew[0].name).toBe('ext_fuzzy_match_spin');

    // The pre-window shows the database before the loop: serving queries, no extension frame.
    const profile = decodeProfileSamples(await daemon.incidentFile(incident.id, 'samples.json.gz'));
    const loopFromNs = (loopStartsAt - profile.startTimeMs) * 1e6;
    let before = 0;
    let scanning = 0;
    for (let i = 0; i < profile.samples.stack.length; i++) {
      const stack = profile.stacks[profile.samples.stack[i]];
      if (stack.pid !== db.pid || profile.samples.timeNs[i] >= loopFromNs - 500e6) continue;
      before++;
      const names = stack.frames.map((f) => profile.frames[f].name);
      if (names.includes('scan_rows')) scanning++;
      expect(names).not.toContain('ext_fuzzy_match_spin');
    }
    expect(before).toBeGreaterThan(20);
    expect(scanning / before).toBeGreaterThan(0.5);

    // Slack: exactly one message, the PNG of what fired (the database alone), a link to its page.
    await daemon.waitFor('the Slack message', async () => (slack.messages.length > 0 ? true : undefined), 20_000);
    const png = await daemon.incidentFile(incident.id, 'process.png');
    expect(slack.messages).toHaveLength(1);
    expect(Buffer.compare(slack.messages[0].files[0].bytes, png)).toBe(0);
    const blocks = JSON.stringify(slack.messages[0].blocks);
    expect(blocks).toContain('ext_fuzzy_match_spin');
    const link = /"url":"([^"]+\/incidents\/[^"]+)"/.exec(blocks)?.[1];
    expect(link).toBe(`${daemon.baseUrl}/incidents/${incident.id}`);

    // The mail: the same flamegraph inline, referenced by its cid.
    const [mail] = await smtp.waitForMail(1, 20_000);
    const cid = /src="cid:([^"]+)"/.exec(String(mail.html))?.[1];
    expect(mail.attachments.find((a) => a.cid === cid)?.content.equals(png)).toBe(true);

    // The link opens the incident page, which names the loop.
    browser = await launchChromium();
    const page = await browser.newPage();
    const seen = watchPage(page);
    await page.goto(link!);
    expect(await page.locator('h1').innerText()).toContain('db-spin');
    await page.locator('.frame[data-name="ext_fuzzy_match_spin"]').first().waitFor();
    expect(await page.locator('table#top-functions tbody tr').first().innerText()).toContain('ext_fuzzy_match_spin');
    await screenshot(page, 'three-am-incident');
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);

    // SIGTERM: a clean exit, no BPF program left behind.
    db.kill('SIGKILL');
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(execFileSync('bpftool', ['prog', 'show']).toString()).not.toContain('sample_stack');
  });
});
