import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { buildCFixture, testOutput } from '../helpers/fixtures.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';

// The real daemon started with umask 000 over a state folder anyone may enter: after it wrote an
// incident and queued its notification through its own Redis, nothing in the folder is open to
// other users, and `nobody` can neither read an incident nor talk to the Redis socket.

const SLACK_TOKEN = 'xoxb-modes-token';
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
let slack: SlackApiServer;
let d: RunningDaemon | undefined;
let burner: ChildProcess | undefined;

beforeAll(async () => {
  process.env.TAIL2_TEST_MODES_SLACK_TOKEN = SLACK_TOKEN;
  slack = await startSlackApiServer({ token: SLACK_TOKEN });
});

afterAll(async () => {
  burner?.kill('SIGKILL');
  await d?.stop('SIGKILL');
  await slack?.close();
});

/** Every entry under `dir` with its type and permission bits. */
function walk(dir: string): Array<{ path: string; type: 'dir' | 'file' | 'socket' | 'other'; mode: number }> {
  const out: Array<{ path: string; type: 'dir' | 'file' | 'socket' | 'other'; mode: number }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = lstatSync(path);
    const type = info.isDirectory() ? 'dir' : info.isFile() ? 'file' : info.isSocket() ? 'socket' : 'other';
    out.push({ path, type, mode: info.mode & 0o7777 });
    if (type === 'dir') out.push(...walk(path));
  }
  return out;
}

function asNobody(command: string[]): { status: number | null; output: string } {
  const result = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), ...command], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('state folder modes', () => {
  it('keeps every file 0600 and folder 0700 under umask 000, and other users out', async () => {
    // A state folder left open (0755) by hand: the daemon tightens it.
    const dir = join(testOutput, 'daemon', 'state-modes');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'state'), { recursive: true });
    chmodSync(join(dir, 'state'), 0o755);
    const rules = [
      'rules:',
      '  - name: burner-spin',
      '    metric: cpu',
      '    scope: { process: "^burner$" }',
      '    above: 80%',
      '    for: 2s',
      '    capture: { before: 5s, after: 1s }',
      '    cooldown: 1h',
      '    notify: [oncall-slack]',
    ].join('\n');
    const config = `notifiers:\n  oncall-slack: { type: slack, token: "\${TAIL2_TEST_MODES_SLACK_TOKEN}", channel: C0123456, api_url: "${slack.apiUrl}" }\n`;
    d = await startDaemon('state-modes', rules, config, { keepState: true, umask: '000' });
    const daemon = d;
    burner = spawn(buildCFixture('burner'), ['0'], { stdio: 'ignore' });
    const { id } = await daemon.waitFor('an incident', async () => (await daemon.get<{ incidents: Array<{ id: string }> }>('/api/incidents')).incidents[0]);
    await daemon.waitFor('the notification delivered', async () => ((await daemon.get<IncidentRecord>(`/api/incidents/${id}`)).notifications[0]?.status === 'delivered' ? true : undefined));
    burner.kill('SIGKILL');
    expect(daemon.log()).toContain('its mode is now 0700');

    const state = join(dir, 'state');
    expect(lstatSync(state).mode & 0o777).toBe(0o700);
    const entries = walk(state);
    const names = entries.map((e) => relative(state, e.path));
    // What a daemon with an incident and its Redis has written: the test looks at all of it.
    for (const expected of ['index.sqlite', 'index.sqlite-wal', 'index.sqlite-shm', `incidents/${id}/incident.json`, `incidents/${id}/flamegraph.svg`, 'redis/redis.sock']) {
      expect(names).toContain(expected);
    }
    expect(names.some((name) => name.startsWith('redis/appendonlydir/'))).toBe(true);
    const open = entries.filter((e) => (e.type === 'dir' ? e.mode !== 0o700 : e.type === 'file' ? e.mode !== 0o600 : (e.mode & 0o077) !== 0));
    expect(open.map((e) => `${relative(state, e.path)} ${e.type} 0${e.mode.toString(8)}`)).toEqual([]);

    // As nobody: the folder above is open (the daemon's config is readable, so the path is
    // reachable and setpriv works), the incident and the Redis socket are not.
    const control = asNobody(['cat', daemon.rulesPath]);
    expect(control.status).toBe(0);
    expect(control.output).toContain('burner-spin');
    const incident = asNobody(['cat', join(state, 'incidents', id, 'incident.json')]);
    expect(incident.status).not.toBe(0);
    expect(incident.output).toContain('Permission denied');
    const socket = join(state, 'redis', 'redis.sock');
    const asRoot = spawnSync('redis-cli', ['-s', socket, 'ping'], { encoding: 'utf8' });
    expect(asRoot.stdout.trim()).toBe('PONG');
    const redis = asNobody(['redis-cli', '-s', socket, 'ping']);
    expect(redis.output).not.toContain('PONG');
    expect(redis.output).toContain('Permission denied');
    // SIGTERM, so its redis-server stops with it.
    expect(await daemon.stop('SIGTERM')).toBe(0);
    d = undefined;
  });
});
