import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';

// Guessing web.token on the real daemon over HTTP: wrong Bearer tokens and wrong logins count
// against one limit per client address. Each case connects from its own loopback address
// (127.0.0.2, .3, …: all of 127/8 is this host), which is what the limit is keyed by.

const TOKEN = 'guess-me-if-you-can-0123456789';
const LIMIT = 10;
let d: RunningDaemon;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  setCookie: string[];
  body: string;
}

function call(from: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const url = new URL(d.baseUrl + path);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method, headers, localAddress: from }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], setCookie: res.headers['set-cookie'] ?? [], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const bearer = (from: string, token: string) => call(from, 'GET', '/api/status', { authorization: `Bearer ${token}` });
const login = (from: string, token: string) =>
  call(from, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ token, next: '/' }).toString());

beforeAll(async () => {
  d = await startDaemon('token-guessing', 'rules: []\n', '', { web: `token: "${TOKEN}"` });
});

afterAll(async () => {
  await d?.stop('SIGKILL');
});

describe('token guesses on the real daemon', () => {
  it('locks an address out after ten wrong Bearer tokens, even for the right token and the login form', async () => {
    expect((await bearer('127.0.0.2', TOKEN)).status).toBe(200);
    for (let i = 0; i < LIMIT; i++) {
      const wrong = await bearer('127.0.0.2', `wrong-${i}`);
      expect(wrong.status).toBe(401);
      expect(wrong.body).toContain('wrong token');
    }
    const locked = await bearer('127.0.0.2', TOKEN);
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThan(0);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(60);
    expect(JSON.parse(locked.body).error).toMatch(/too many wrong tokens from this address: wait \d+ s/);
    // The answer is the same for a right and a wrong guess: nothing to learn while locked.
    expect((await bearer('127.0.0.2', 'wrong-again')).status).toBe(429);
    // One limit: the login form refuses the right token from that address too.
    const form = await login('127.0.0.2', TOKEN);
    expect(form.status).toBe(429);
    expect(form.setCookie).toEqual([]);
    // Other addresses are not affected.
    expect((await bearer('127.0.0.3', TOKEN)).status).toBe(200);
  });

  it('counts wrong logins against Bearer tokens from the same address', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await login('127.0.0.4', `wrong-${i}`)).status).toBe(401);
    expect((await bearer('127.0.0.4', TOKEN)).status).toBe(429);
    expect((await login('127.0.0.4', TOKEN)).status).toBe(429);
  });

  it('does not count a session cookie, nor another authorization scheme, as a guess', async () => {
    const session = await login('127.0.0.5', TOKEN);
    expect(session.status).toBe(303);
    const cookie = session.setCookie[0].split(';')[0];
    // A proxy's Basic credentials and a stale cookie, many times: neither is a token guess.
    for (let i = 0; i < LIMIT + 2; i++) {
      const stale = await call('127.0.0.6', 'GET', '/api/status', { authorization: 'Basic cHJveHk6cGFzcw==', cookie: 'tail2_session=stale' });
      expect(stale.status).toBe(401);
    }
    expect((await bearer('127.0.0.6', TOKEN)).status).toBe(200);
    // A locked-out address still reads with a valid cookie: it proves the token was known.
    expect((await call('127.0.0.2', 'GET', '/api/status', { cookie })).status).toBe(200);
  });
});
