import type { Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IncidentStore } from '../daemon/store/incident-store.js';
import { createHttpApp, listen } from '../daemon/web/http-server.js';
import { quietDaemonStatus } from './helpers/daemon-status.js';
import { ProbeError } from '../daemon/probes/user-probes.js';

// The HTTP API's own rules (auth, limits, validation), on a real server with a stand-in daemon.
describe('HTTP API', () => {
  const captures: Array<{ beforeMs: number; afterMs: number; reason: string }> = [];
  const probeRequests: Array<{ profile: string; pid: number; forMs: number; reason: string; maxRequested: number }> = [];
  const unprobeRequests: Array<{ pid: number; profile: string | undefined }> = [];
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
      probe: async (request) => {
        probeRequests.push(request);
        if (request.pid === 4040) throw new ProbeError('malloc', 4040, 'no mapped file defines malloc and free');
        if (request.pid === 4090) throw new ProbeError('malloc', 4090, '16 processes are probed on request already', true);
        return { pid: request.pid, profile: request.profile, file: '/usr/lib/x86_64-linux-gnu/libc.so.6', functions: ['malloc', 'free'], reason: request.reason, sinceMs: 0, untilMs: Date.parse('2026-11-25T03:10:00Z') };
      },
      unprobe: (pid, profile) => {
        unprobeRequests.push({ pid, profile });
        return pid === 1234;
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

  it('validates probe requests, answers 201 with what is probed, and says why a process cannot be', async () => {
    const probe = (body: unknown, headers: Record<string, string> = auth) =>
      fetch(`${base}/api/probes`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await probe({ kind: 'malloc', pid: 1234 }, {})).status).toBe(401);
    for (const bad of [{ kind: 'memmove', pid: 1234 }, { kind: 'malloc', pid: true }, { kind: 'malloc', pid: -3 }, { kind: 'malloc', pid: 1234, for: '25h' }, { kind: 'malloc', pid: 1234, for: 'soon' }]) {
      expect((await probe(bad)).status, JSON.stringify(bad)).toBe(400);
    }
    expect(probeRequests).toEqual([]);
    const ok = await probe({ kind: 'malloc', pid: 1234, for: '1m', reason: 'why\u001b[31m red' });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ pid: 1234, kind: 'malloc', file: '/usr/lib/x86_64-linux-gnu/libc.so.6', functions: ['malloc', 'free'], until: '2026-11-25T03:10:00.000Z' });
    // The reason reaches terminals and pages: control characters do not.
    expect(probeRequests[0]).toEqual({ profile: 'malloc', pid: 1234, forMs: 60_000, reason: 'why [31m red', maxRequested: 16 });
    const copies = await probe({ kind: 'memcpy', pid: 1234 });
    expect(copies.status).toBe(201);
    expect(await copies.json()).toMatchObject({ pid: 1234, kind: 'memcpy' });
    expect(probeRequests[1]).toMatchObject({ profile: 'memcpy', pid: 1234 });
    const refused = await probe({ kind: 'malloc', pid: 4040 });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toEqual({ error: 'cannot probe malloc in PID 4040: no mapped file defines malloc and free' });
    expect((await probe({ kind: 'malloc', pid: 4090 })).status).toBe(409);
    const removed = await fetch(`${base}/api/probes/1234`, { method: 'DELETE', headers: auth });
    expect(await removed.json()).toEqual({ detached: true });
    expect((await fetch(`${base}/api/probes/1234?kind=memcpy`, { method: 'DELETE', headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/api/probes/1234?kind=memmove`, { method: 'DELETE', headers: auth })).status).toBe(400);
    expect(unprobeRequests).toEqual([{ pid: 1234, profile: undefined }, { pid: 1234, profile: 'memcpy' }]);
    expect(await (await fetch(`${base}/api/probes/77`, { method: 'DELETE', headers: auth })).json()).toEqual({ detached: false });
    // At most 30 requests a minute.
    let limited: Response | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const answer = await probe({ kind: 'malloc', pid: 1234 });
      if (answer.status === 429) limited = answer;
    }
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);
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
