import type express from 'express';
import { parseDuration } from '../model/duration.js';
import { TERMINAL_UNSAFE } from '../model/terminal-text.js';
import { PROBED_PROFILES, type ProbedProfile } from '../model/profile-kind.js';
import { ProbeError } from '../probes/user-probes.js';
import type { DaemonApi } from './daemon-api.js';
import { RateLimiter } from './rate-limiter.js';
import { CAPTURE_PROOF_HEADER } from './session-auth.js';

/** How long one request may probe a process: probes slow it down, so they always end. */
const MAX_PROBE_MS = 24 * 3_600_000;
const DEFAULT_PROBE_MS = 10 * 60_000;
/** Requests a minute: each reads a process's files and attaches to it. */
const PROBE_REQUESTS_PER_MINUTE = 30;
/** Processes probed on request at once (rule-driven probes do not count). */
export const MAX_REQUESTED_PROBES = 16;

/**
 * `POST /api/probes` and `DELETE /api/probes/:pid` (docs/api.md): one profile's probes (malloc,
 * memcpy) on one process, for a while. Probes slow the process they are in, so a browser session needs the
 * capture header here too, and a loopback daemon without a token wants JSON.
 */
export function addProbeRoutes(app: express.Express, api: DaemonApi): void {
  const refused = (req: express.Request, res: express.Response): boolean => {
    const proof = req.get(CAPTURE_PROOF_HEADER) === '1';
    if (res.locals.auth === 'cookie' && !proof) {
      res.status(403).json({ error: 'a browser session attaches probes only with the header "X-Tail2-Capture: 1"; scripts send "Authorization: Bearer <web.token>"' });
      return true;
    }
    if (res.locals.auth === 'open' && !proof && !req.is('application/json') && req.method === 'POST') {
      res.status(415).json({ error: 'send the probe request as JSON (Content-Type: application/json), e.g. {"kind": "malloc", "pid": 1234, "for": "10m"}' });
      return true;
    }
    return false;
  };

  const limiter = new RateLimiter(PROBE_REQUESTS_PER_MINUTE, 60_000, 1);
  app.post('/api/probes', async (req, res) => {
    if (refused(req, res)) return;
    const waitMs = limiter.waitMs('all');
    if (waitMs > 0) {
      res.status(429).set('Retry-After', String(Math.ceil(waitMs / 1000))).json({ error: `at most ${PROBE_REQUESTS_PER_MINUTE} probe requests a minute` });
      return;
    }
    limiter.record('all');
    const body = (req.body ?? {}) as { kind?: unknown; pid?: unknown; for?: unknown; reason?: unknown };
    if (!isProbedProfile(body.kind)) {
      res.status(400).json({ error: 'kind must be "malloc" (the allocation profile) or "memcpy" (the copy profile): docs/profiles.md' });
      return;
    }
    const profile = body.kind;
    const pid = typeof body.pid === 'number' ? body.pid : typeof body.pid === 'string' && /^\d+$/.test(body.pid) ? Number(body.pid) : NaN;
    if (!Number.isInteger(pid) || pid < 1) {
      res.status(400).json({ error: 'pid must be a process id (a positive whole number)' });
      return;
    }
    let forMs: number;
    try {
      forMs = body.for === undefined ? DEFAULT_PROBE_MS : parseDuration(String(body.for));
    } catch (error) {
      res.status(400).json({ error: `for: ${(error as Error).message}` });
      return;
    }
    if (forMs <= 0 || forMs > MAX_PROBE_MS) {
      res.status(400).json({ error: 'for must be more than 0 and at most 24h' });
      return;
    }
    const cleaned = typeof body.reason === 'string' ? body.reason.replace(TERMINAL_UNSAFE, ' ').trim().slice(0, 200) : '';
    const reason = cleaned || 'tail2 probe';
    if (!api.probe) {
      res.status(404).json({ error: 'this daemon has no probes' });
      return;
    }
    try {
      const probed = await api.probe({ profile, pid, forMs, reason, maxRequested: MAX_REQUESTED_PROBES });
      res.status(201).json({ pid: probed.pid, kind: profile, file: probed.file, functions: probed.functions, until: new Date(probed.untilMs).toISOString() });
    } catch (error) {
      if (error instanceof ProbeError) {
        res.status(error.tooMany ? 409 : 422).json({ error: error.message });
        return;
      }
      api.onError?.(error);
      res.status(500).json({ error: 'attaching the probes failed; the daemon’s log has the details' });
    }
  });

  app.delete('/api/probes/:pid', (req, res) => {
    if (refused(req, res)) return;
    const pid = Number(req.params.pid);
    if (!Number.isInteger(pid) || pid < 1 || !api.unprobe) {
      res.status(404).json({ error: 'no such probed process' });
      return;
    }
    // ?kind=memcpy removes that profile's probes alone; without, every profile's.
    const kind = req.query.kind;
    if (kind !== undefined && !isProbedProfile(kind)) {
      res.status(400).json({ error: 'kind must be "malloc" or "memcpy"' });
      return;
    }
    res.json({ detached: api.unprobe(pid, kind) });
  });
}

function isProbedProfile(value: unknown): value is ProbedProfile {
  return (PROBED_PROFILES as readonly unknown[]).includes(value);
}
