import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { extname } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { IncidentStore } from '../store/incident-store.js';
import { parseDuration } from '../units/duration.js';

/** What the HTTP server needs from the daemon. */
export interface DaemonApi {
  store: Pick<IncidentStore, 'list' | 'get' | 'artifactPath' | 'hold'>;
  token?: string;
  healthy(): boolean;
  status(): unknown;
  rules(): unknown;
  /** Starts a manual capture; returns the incident id it will have. */
  capture(request: { beforeMs: number; afterMs: number; reason: string }): string;
}

/** Content types of the artifacts the store serves (it refuses any other name). */
const CONTENT_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.gz': 'application/gzip',
  '.folded': 'text/plain; charset=utf-8',
  '.json': 'application/json',
};

const CAPTURE_LIMIT = { beforeMs: 3_600_000, afterMs: 600_000 };
/** Manual captures allowed per minute, so a script in a loop cannot fill the disk. */
const CAPTURES_PER_MINUTE = 6;

/**
 * The daemon's HTTP API (DESIGN.md, "HTTP"): health, status, rules, incidents and their
 * artifacts, and manual captures. JSON answers are objects; errors are `{ "error": message }`.
 * When `web.token` is set, every route but /healthz needs `Authorization: Bearer TOKEN`.
 */
export function createHttpApp(api: DaemonApi): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  app.get('/healthz', (_req, res) => {
    const healthy = api.healthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unhealthy' });
  });

  const expected = api.token ? Buffer.from(`Bearer ${api.token}`) : undefined;
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!expected) return next();
    const given = Buffer.from(req.get('authorization') ?? '');
    // Constant-time, so the answer's timing does not leak how much of a guess was right.
    if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
    res.status(401).json({ error: 'this tail2 needs a token: send "Authorization: Bearer <web.token>"' });
  });

  app.get('/api/status', (_req, res) => {
    res.json(api.status());
  });

  app.get('/api/rules', (_req, res) => {
    res.json({ rules: api.rules() });
  });

  app.get('/api/incidents', (req, res) => {
    const limit = req.query.limit === undefined ? undefined : Number(req.query.limit);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      res.status(400).json({ error: 'limit must be a positive whole number' });
      return;
    }
    const text = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined);
    const time = (name: string) => {
      const value = text(name);
      return value === undefined ? undefined : Date.parse(value);
    };
    const from = time('from');
    const to = time('to');
    if (Number.isNaN(from) || Number.isNaN(to)) {
      res.status(400).json({ error: 'from and to must be ISO times, e.g. 2026-11-25T03:00:00Z' });
      return;
    }
    try {
      res.json(api.store.list({ limit, cursor: text('cursor'), rule: text('rule'), process: text('process'), from, to }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      res.status(code === 'TAIL2_STORE_CURSOR' ? 400 : 500).json({ error: (error as Error).message });
    }
  });

  app.get('/api/incidents/:id', async (req, res) => {
    const record = await api.store.get(req.params.id);
    if (!record) {
      res.status(404).json({ error: `no incident ${JSON.stringify(req.params.id)}` });
      return;
    }
    res.json(record);
  });

  app.get('/api/incidents/:id/:artifact', async (req, res) => {
    const { id, artifact } = req.params;
    const path = api.store.artifactPath(id, artifact);
    const type = CONTENT_TYPES[extname(artifact)];
    if (!path || !type) {
      res.status(404).json({ error: 'no such incident artifact' });
      return;
    }
    // Retention must not delete the files while they are being sent.
    const release = api.store.hold(id);
    try {
      const info = await stat(path);
      res.status(200).type(type).set('Content-Length', String(info.size));
      const stream = createReadStream(path);
      stream.on('close', release);
      stream.pipe(res);
    } catch {
      release();
      res.status(404).json({ error: 'no such incident artifact' });
    }
  });

  const recentCaptures: number[] = [];
  app.post('/api/capture', (req, res) => {
    const body = (req.body ?? {}) as { before?: unknown; after?: unknown; reason?: unknown };
    let beforeMs: number;
    let afterMs: number;
    try {
      beforeMs = body.before === undefined ? 60_000 : parseDuration(String(body.before));
      afterMs = body.after === undefined ? 10_000 : parseDuration(String(body.after));
    } catch (error) {
      res.status(400).json({ error: (error as Error).message });
      return;
    }
    if (beforeMs > CAPTURE_LIMIT.beforeMs || afterMs > CAPTURE_LIMIT.afterMs) {
      res.status(400).json({ error: 'before may be at most 1h and after at most 10m' });
      return;
    }
    const now = Date.now();
    while (recentCaptures.length > 0 && recentCaptures[0] < now - 60_000) recentCaptures.shift();
    if (recentCaptures.length >= CAPTURES_PER_MINUTE) {
      res.status(429).set('Retry-After', String(Math.ceil((recentCaptures[0] + 60_000 - now) / 1000))).json({ error: `at most ${CAPTURES_PER_MINUTE} manual captures a minute` });
      return;
    }
    recentCaptures.push(now);
    const reason = typeof body.reason === 'string' && body.reason.trim() ? body.reason.trim().slice(0, 500) : 'manual capture';
    res.status(202).json({ id: api.capture({ beforeMs, afterMs, reason }) });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}

/** Starts listening; resolves once the port is bound, rejects with the bind error. */
export function listen(app: express.Express, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}
