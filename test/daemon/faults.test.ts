import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../daemon/model/incident-record.js';
import { IncidentStore } from '../../daemon/store/incident-store.js';
import { startDaemon, tail2dPath, type RunningDaemon } from '../helpers/daemon-process.js';
import { testOutput } from '../helpers/fixtures.js';
import { startRedisTestServer, type RedisTestServer } from '../helpers/redis-test-server.js';
import { startSlackApiServer, type SlackApiServer } from '../helpers/slack-api-server.js';
import { storeIncident } from '../helpers/stored-incident.js';

// Faults that must neither crash nor wedge tail2d, each made for real against the real daemon:
// artifacts that cannot be read, downloads cut short, a renderer that cannot run, an incident.json
// that cannot be read while its notification is due. After each, /healthz still answers.

const running: RunningDaemon[] = [];
const NO_RULES = 'rules: []\n';

afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
});

async function start(name: string, extraConfig = '', options: Parameters<typeof startDaemon>[3] = {}): Promise<RunningDaemon> {
  const d = await startDaemon(name, NO_RULES, extraConfig, options);
  running.push(d);
  return d;
}

/** A manual capture of the last two seconds; resolves to its record once it is on disk. */
async function capture(d: RunningDaemon): Promise<IncidentRecord> {
  const response = await fetch(`${d.baseUrl}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: '2s', after: '0s', reason: 'fault test' }) });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  return d.waitFor(`incident ${id} on disk`, async () => {
    const r = await fetch(`${d.baseUrl}/api/incidents/${id}`);
    return r.ok ? ((await r.json()) as IncidentRecord) : undefined;
  });
}

const healthz = async (d: RunningDaemon) => (await fetch(`${d.baseUrl}/healthz`)).status;
const incidentDir = (d: RunningDaemon, id: string) => join(d.dir, 'state', 'incidents', id);

describe('tail2d under faults', () => {
  it('answers 500 (and logs) for an artifact or incident.json it cannot read, and keeps serving', async () => {
    const d = await start('fault-artifacts');
    const { id } = await capture(d);
    const dir = incidentDir(d, id);

    // A directory where the SVG should be.
    rmSync(join(dir, 'flamegraph.svg'));
    mkdirSync(join(dir, 'flamegraph.svg'));
    const svg = await fetch(`${d.baseUrl}/api/incidents/${id}/flamegraph.svg`);
    expect(svg.status).toBe(500);
    expect(svg.headers.get('content-type')).toMatch(/^application\/json/);
    expect(svg.headers.get('cache-control')).toBeNull();
    expect(await svg.json()).toEqual({ error: expect.stringContaining('cannot be read') });
    expect(d.log()).toContain('is not a regular file');

    // A symlink is not followed, wherever it points.
    rmSync(join(dir, 'stacks.folded'));
    symlinkSync('/etc/hostname', join(dir, 'stacks.folded'));
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}/stacks.folded`)).status).toBe(500);
    expect(d.log()).toContain('ELOOP');

    // An artifact that is simply not there is still a 404, not a fault.
    rmSync(join(dir, 'speedscope.json'));
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}/speedscope.json`)).status).toBe(404);

    // incident.json that cannot be read: a server error, never "no such incident".
    const record = join(dir, 'incident.json');
    renameSync(record, `${record}.away`);
    mkdirSync(record);
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}`)).status).toBe(500);
    expect((await fetch(`${d.baseUrl}/incidents/${id}`)).status).toBe(500);
    rmSync(record, { recursive: true });
    renameSync(`${record}.away`, record);
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}`)).status).toBe(200);
    expect((await fetch(`${d.baseUrl}/api/incidents/${id}/summary.json`)).status).toBe(200);

    expect(await healthz(d)).toBe(200);
    expect(d.child.exitCode).toBeNull();
  });

  it('releases the retention hold of a download the client abandons midway', async () => {
    const d = await start('fault-abort', 'store: { max_incidents: 1 }\n');
    const first = await capture(d);
    // Far more than the socket buffers hold: the daemon is mid-file when the client stops reading.
    writeFileSync(join(incidentDir(d, first.id), 'stacks.folded'), Buffer.alloc(64 * 1024 * 1024, 'a'));
    const controller = new AbortController();
    const response = await fetch(`${d.baseUrl}/api/incidents/${first.id}/stacks.folded`, { signal: controller.signal });
    expect(response.headers.get('content-length')).toBe(String(64 * 1024 * 1024));
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort();
    await reader.cancel().catch(() => undefined);

    // With max_incidents 1, the next incident makes retention delete the first: only possible if
    // the abandoned download let go of it.
    const next = await capture(d);
    await d.waitFor('retention to delete the incident of the abandoned download', async () => {
      const { incidents } = await d.get<{ incidents: Array<{ id: string }> }>('/api/incidents');
      return incidents.length === 1 && incidents[0].id === next.id ? true : undefined;
    });
    expect(readdirSync(join(d.dir, 'state', 'incidents'))).toEqual([next.id]);
    expect(await healthz(d)).toBe(200);
  });

  it('writes an incident whose PNG cannot be rendered (fonts missing) without it, saying why, and carries on', async () => {
    // A private mount namespace hides the DejaVu fonts from this tail2d alone, as on a host
    // where fonts-dejavu-core was never installed.
    const hideFonts = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /usr/share/fonts/truetype/dejavu && exec "$@"', 'sh'];
    const d = await start('fault-fonts', '', { wrapper: hideFonts });
    const record = await capture(d);
    expect(record.profile.samples).toBeGreaterThan(0);
    expect(record.problems).toEqual([{ part: 'flamegraph.png', error: expect.stringContaining('apt-get install fonts-dejavu-core') }]);
    // The files the message does not need are stored after incident.json: listed once they are there.
    for (const file of ['flamegraph.svg', 'profile.pb.gz']) await d.incidentFile(record.id, file);
    const files = readdirSync(incidentDir(d, record.id));
    expect(files).toEqual(expect.arrayContaining(['incident.json', 'samples.json.gz', 'flamegraph.svg', 'profile.pb.gz', 'summary.json']));
    expect(files).not.toContain('flamegraph.png');
    expect((await fetch(`${d.baseUrl}/api/incidents/${record.id}/flamegraph.png`)).status).toBe(404);
    const page = await fetch(`${d.baseUrl}/incidents/${record.id}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<section id="problems"[\s\S]*<code>flamegraph\.png<\/code>: cannot render PNG flamegraphs[^<]*fonts-dejavu-core/);
    expect(d.log()).toContain('incident written without some of its parts');
    const status = await d.status();
    expect(status.captures).toMatchObject({ in_flight: [], degraded: 1, lost: 0 });
    // The next capture is no different: the daemon goes on.
    expect((await capture(d)).problems?.map((p) => p.part)).toEqual(['flamegraph.png']);
    expect(await healthz(d)).toBe(200);
  });

  it('keeps serving when a local process takes every file descriptor with connections', async () => {
    const d = await start('fault-emfile');
    const pid = d.child.pid!;
    // Room for a few dozen more descriptors, then 200 connections that are never closed.
    const original = /^Max open files\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!;
    const limit = readdirSync(`/proc/${pid}/fd`).length + 30;
    // The soft limit only: lowering the hard one could not be undone without CAP_SYS_RESOURCE.
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${limit}:${original[2]}`]);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 200; i++) {
        const socket = connect(Number(new URL(d.baseUrl).port), '127.0.0.1');
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
      // libuv sheds connections it cannot accept; what needs a descriptor meanwhile fails, and says so.
      await d.waitFor('the daemon to run out of descriptors', async () => (d.log().includes('EMFILE') ? true : undefined));
      expect(d.child.exitCode).toBeNull();
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await d.waitFor('/healthz to answer again', async () => ((await healthz(d)) === 200 ? true : undefined));
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${original[1]}:${original[2]}`]);
    expect((await capture(d)).profile.samples).toBeGreaterThan(0);
    expect(d.child.exitCode).toBeNull();
  });

  it('retries an incident while its disk is full, serving meanwhile, and writes it whole once there is room', async () => {
    const name = 'fault-enospc';
    const dir = join(testOutput, 'daemon', name);
    const state = join(dir, 'state');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(state, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', state]);
    try {
      const d = await start(name, '', { keepState: true });
      const free = Number(statfsSync(state).bavail) * Number(statfsSync(state).bsize);
      writeFileSync(join(state, 'ballast'), Buffer.alloc(free));
      const response = await fetch(`${d.baseUrl}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: '2s', after: '0s' }) });
      const { id } = (await response.json()) as { id: string };
      await d.waitFor('a failed write that will be retried', async () => (d.log().includes('writing the incident failed; retrying') ? true : undefined));
      expect(d.log()).toContain('ENOSPC');
      const status = await d.status();
      // Symbolized and waiting for the disk: the window is no longer pinned in the buffer.
      expect(status.captures.in_flight).toEqual([expect.objectContaining({ id, pinned: false })]);
      expect(status.store?.last_error?.code).toBe('ENOSPC');
      expect(await healthz(d)).toBe(200);

      rmSync(join(state, 'ballast'));
      const record = await d.waitFor('the incident written', async () => {
        const r = await fetch(`${d.baseUrl}/api/incidents/${id}`);
        return r.ok ? ((await r.json()) as IncidentRecord) : undefined;
      });
      expect(record.problems).toBeUndefined();
      expect((await d.incidentFile(id, 'flamegraph.png')).length).toBeGreaterThan(0);
      expect(await d.stop('SIGTERM')).toBe(0);
    } finally {
      execFileSync('umount', ['-l', state]);
    }
  });

  describe('a notification whose incident cannot be read', () => {
    const TOKEN = 'xoxb-faults-token';
    let slack: SlackApiServer;
    let redis: RedisTestServer;

    beforeAll(async () => {
      process.env.TAIL2_TEST_SLACK_TOKEN = TOKEN;
      slack = await startSlackApiServer({ token: TOKEN });
      redis = await startRedisTestServer();
    });
    afterAll(async () => {
      await slack?.close();
      await redis?.close();
    });

    it('is retried, not dropped, and delivered once the incident reads again', async () => {
      // The incident is stored with its notification pending before tail2d starts; Redis is down
      // until incident.json has been made unreadable, so the first attempt meets the fault.
      const name = 'fault-notify';
      const state = join(testOutput, 'daemon', name, 'state');
      rmSync(join(testOutput, 'daemon', name), { recursive: true, force: true });
      const store = await IncidentStore.open(state);
      const stored = await storeIncident(store, { notify: ['oncall-slack'] });
      store.close();
      await redis.stop();
      const notifiers = `notifiers:\n  oncall-slack: { type: slack, token: "\${TAIL2_TEST_SLACK_TOKEN}", channel: C0123456, api_url: "${slack.apiUrl}" }\nredis: { url: "${redis.url}" }\n`;
      const d = await start(name, notifiers, { keepState: true });

      const record = join(state, 'incidents', stored.id, 'incident.json');
      renameSync(record, `${record}.away`);
      mkdirSync(record);
      await redis.start();
      await d.waitFor('two attempts that could not read the incident', async () => (d.log().split('cannot read the incident to notify about; retrying later').length > 2 ? true : undefined));
      expect(d.log()).toContain('EISDIR');
      expect(slack.messages).toHaveLength(0);
      expect(await healthz(d)).toBe(200);

      rmSync(record, { recursive: true });
      renameSync(`${record}.away`, record);
      const delivered = await d.waitFor('the notification delivered', async () => {
        const n = (await d.get<IncidentRecord>(`/api/incidents/${stored.id}`)).notifications[0];
        return n.status === 'delivered' ? n : undefined;
      });
      expect(delivered.attempts).toBe(1);
      expect(slack.messages.filter((m) => JSON.stringify(m.blocks).includes(stored.id))).toHaveLength(1);
      expect(await d.stop('SIGTERM')).toBe(0);
    });
  });

  it('refuses to start on an unclosed bracket in tail2.yaml, naming the line where it began', async () => {
    const dir = join(testOutput, 'daemon', 'fault-yaml');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'tail2.yaml');
    writeFileSync(config, 'state_dir: state\nweb: { listen: "127.0.0.1:1"\nrules_file: rules.yaml\n');
    const child = spawn(process.execPath, [tail2dPath, '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`tail2d: cannot start: ${config}:3:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a } (the flow mapping "{" that is not closed began at 2:6)`);
  });
});
