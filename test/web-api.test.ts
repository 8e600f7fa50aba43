import type { Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../daemon/store/incident-store.js';
import { createHttpApp, listen } from '../daemon/web/http-server.js';
import { quietDaemonStatus } from './helpers/daemon-status.js';

// The HTTP API's own rules (auth, limits, validation), on a real server with a stand-in daemon.
describe('HTTP API', () => {
  const captures: Array<{ beforeMs: number; afterMs: number; reason: string }> = [];
  let server: Server;
  let store: IncidentStore;
  let base: string;
  const token = 'a-token-of-twenty-chars';

  beforeAll(async () => {
    store = await IncidentStore.open(mkdtempSync(join(tmpdir(), 'tail2-web-')));
    const app = createHttpApp({
      store,
      token,
      healthy: () => true,
      status: () => quietDaemonStatus(),
      rules: () => [],
      capture: (request) => {
        captures.push(request);
        return `20261125T030000Z-manual-00000${captures.length}`;
      },
    });
    server = await listen(app, '127.0.0.1', 0);
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    store.close();
  });

  const auth = { authorization: `Bearer ${token}` };
  const post = (body: unknown, headers: Record<string, string> = auth) =>
    fetch(`${base}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('serves /healthz without the token and nothing else', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const denied = await fetch(`${base}/api/status`);
    expect(denied.status).toBe(401);
    expect((await fetch(`${base}/api/status`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(`${base}/api/status`, { headers: auth })).status).toBe(200);
  });

  it('validates capture requests and answers 202 with the id', async () => {
    const bad = await post({ before: 'a while' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/invalid duration "a while"/);
    expect((await post({ after: '2h' })).status).toBe(400);
    const ok = await post({ before: '30s', after: '5s', reason: 'disk is slow' });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ id: expect.stringMatching(/^20261125T030000Z-manual-/) });
    expect(captures.at(-1)).toEqual({ beforeMs: 30_000, afterMs: 5_000, reason: 'disk is slow' });
    expect((await post({}, {})).status).toBe(401);
  });

  it('rate limits manual captures', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post({ before: '1s', after: '1s' })).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((status) => status === 202).length).toBeLessThanOrEqual(6);
  });

  it('answers unknown incidents, artifacts and routes with 404', async () => {
    expect((await fetch(`${base}/api/incidents/20261125T030000Z-manual-000001`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/api/incidents/..%2F..%2Fetc%2Fpasswd`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/api/incidents/20261125T030000Z-manual-000001/..%2Fincident.json`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/api/nothing`, { headers: auth })).status).toBe(404);
    expect(await (await fetch(`${base}/api/incidents`, { headers: auth })).json()).toEqual({ incidents: [], next: null });
    expect((await fetch(`${base}/api/incidents?cursor=nonsense`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${base}/api/incidents?from=yesterday`, { headers: auth })).status).toBe(400);
  });
});
