import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { extname } from 'node:path';
import ejs from 'ejs';
import express, { type NextFunction, type Request, type Response } from 'express';
import { TAIL2_VERSION } from '../tail2d/version.js';
import { parseDuration } from '../model/duration.js';
import { PROFILE_KIND_NAMES } from '../model/profile-kind.js';
import type { DaemonApi } from './daemon-api.js';
import { addLoginRoutes } from './login-routes.js';
import { addProbeRoutes } from './probe-routes.js';
import { loopbackHostOnly } from './loopback-host.js';
import { PageRenderer } from './page-renderer.js';
import { addPageRoutes, renderClientError, renderNotFound, renderServerError } from './page-routes.js';
import { ARTIFACT_CSP, securityHeaders } from './security-headers.js';
import { CAPTURE_PROOF_HEADER, isApiPath, SessionAuth } from './session-auth.js';
import { sendArtifact } from './send-artifact.js';
import { BUILT_STATIC_DIR, STATIC_DIR, VIEWS_DIR } from './views-dir.js';

export type { DaemonApi } from './daemon-api.js';

/** Content types of the artifacts the store serves (it refuses any other name). */
const CONTENT_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.gz': 'application/gzip',
  '.folded': 'text/plain; charset=utf-8',
  '.json': 'application/json',
};

/**
 * Artifacts a browser shows (images, the interactive SVGs) and those it saves. Everything else
 * (summary.json) is data for scripts and stays inline.
 */
const ATTACHMENTS = new Set(['profile.pb.gz', 'stacks.folded', 'speedscope.json', 'samples.json.gz']);

/** `page_faults.profile.pb.gz` is `profile.pb.gz` of another kind: the name CPU's artifact has. */
function artifactOfCpuKind(artifact: string): string {
  const kind = PROFILE_KIND_NAMES.find((name) => artifact.startsWith(`${name}.`));
  return kind === undefined ? artifact : artifact.slice(kind.length + 1);
}

const CAPTURE_LIMIT = { beforeMs: 3_600_000, afterMs: 600_000 };
/** Manual captures allowed per minute, so a script in a loop cannot fill the disk. */
const CAPTURES_PER_MINUTE = 6;

/**
 * The daemon's HTTP side (docs/api.md): the pages (`/`, `/incidents/:id`, `/rules`,
 * `/status`, `/login`), health, status, rules, incidents and their artifacts, and manual captures.
 * JSON answers are objects; errors are `{ "error": message }`.
 *
 * When `web.token` is set, everything but /healthz, /login and /static/ needs either
 * `Authorization: Bearer TOKEN` or the session cookie `POST /login` sets; pages without either
 * redirect to the login page, API routes answer 401. `POST /api/capture` with the cookie also
 * needs the header `X-Tail2-Capture: 1`, which no cross-site form can send. Without a token
 * (loopback only), requests must be addressed to a loopback name or `web.public_url`'s host, and
 * captures must come as JSON.
 */
export function createHttpApp(api: DaemonApi): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.engine('ejs', ejs.renderFile);
  app.set('view engine', 'ejs');
  app.set('views', VIEWS_DIR);
  // Templates ship with the package and never change under a running daemon: compile each once.
  app.set('view cache', true);
  const onError = (error: unknown): void => api.onError?.(error);
  const pages = new PageRenderer({ host: api.host ?? hostname(), version: api.version ?? TAIL2_VERSION }, onError);
  const auth = new SessionAuth(api.token);

  app.use(securityHeaders);
  app.use(express.json({ limit: '16kb' }));

  app.get('/healthz', (_req, res) => {
    const healthy = api.healthy();
    res.status(healthy ? 200 : 503).json({ status: healthy ? 'ok' : 'unhealthy' });
  });

  // Public, like the login page that uses them. `..` in any spelling is refused by `send` and
  // falls through to the 404 below, as does every file that is not there.
  // Two folders: the stylesheets in views/static/, the bundled scripts in dist/static/.
  for (const dir of [STATIC_DIR, BUILT_STATIC_DIR]) {
    app.use('/static', express.static(dir, { index: false, dotfiles: 'ignore', fallthrough: true, redirect: false, maxAge: '5m' }));
  }
  app.use('/static', (_req, res) => renderNotFound(pages, res));

  // With a token the token is the guard (and the daemon may be reached under any name).
  if (!api.token) app.use(loopbackHostOnly(api.publicUrl));
  addLoginRoutes(app, auth, pages);
  app.use(auth.middleware());

  // Prometheus scrapes with the same token as the API (`authorization` in its scrape config).
  app.get('/metrics', async (_req, res) => {
    if (!api.metrics) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    try {
      const { contentType, body } = await api.metrics();
      res.status(200).type(contentType).send(body);
    } catch (error) {
      onError(error);
      res.status(500).json({ error: 'internal error' });
    }
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
    // Retention must not delete the files while they are being sent; sendArtifact resolves only
    // once the file is closed, whether the transfer finished, failed or the client went away.
    const release = api.store.hold(id);
    try {
      const outcome = await sendArtifact(res, path, {
        'Content-Type': type,
        'Content-Security-Policy': ARTIFACT_CSP,
        // `page_faults.profile.pb.gz` downloads as `profile.pb.gz` does.
        'Content-Disposition': ATTACHMENTS.has(artifactOfCpuKind(artifact)) ? `attachment; filename="${id}-${artifact}"` : 'inline',
        // An incident's artifacts never change once written.
        'Cache-Control': 'private, max-age=86400, immutable',
      });
      if (outcome === 'absent') res.status(404).json({ error: 'no such incident artifact' });
    } catch (error) {
      // A directory where a file should be, an unreadable disk: the daemon's fault, not the asker's.
      onError(error);
      if (!res.headersSent) res.status(500).json({ error: 'this incident artifact cannot be read; the daemon’s log has the details' });
    } finally {
      release();
    }
  });

  const recentCaptures: number[] = [];
  app.post('/api/capture', (req, res) => {
    // Captures write to disk, so a request another site makes the browser send must not start
    // one. Cross-site pages cannot send a custom header or a JSON body without a CORS preflight,
    // which tail2 never answers; the Bearer token cannot be sent by them at all.
    const proof = req.get(CAPTURE_PROOF_HEADER) === '1';
    if (res.locals.auth === 'cookie' && !proof) {
      res.status(403).json({ error: 'a browser session starts captures only with the header "X-Tail2-Capture: 1"; scripts send "Authorization: Bearer <web.token>"' });
      return;
    }
    if (res.locals.auth === 'open' && !proof && !req.is('application/json')) {
      res.status(415).json({ error: 'send the capture request as JSON (Content-Type: application/json), e.g. {"before": "60s", "after": "10s", "reason": "…"}' });
      return;
    }
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

  addProbeRoutes(app, api);
  addPageRoutes(app, api, pages, api.now ?? Date.now);

  app.use((req, res) => {
    if (isApiPath(req.path)) res.status(404).json({ error: 'not found' });
    else renderNotFound(pages, res);
  });

  // Four parameters: that is how express tells an error handler from a middleware.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const given = (error as { status?: unknown; expose?: unknown } | null)?.status;
    const status = typeof given === 'number' && given >= 400 && given < 500 ? given : 500;
    if (status === 500) onError(error);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isApiPath(req.path)) {
      const exposed = status < 500 && (error as { expose?: unknown }).expose === true;
      res.status(status).json({ error: exposed ? (error as Error).message : status === 500 ? 'internal error' : 'bad request' });
    } else if (status === 500) {
      renderServerError(pages, res);
    } else {
      renderClientError(pages, res, status);
    }
  });
  return app;
}

/**
 * Starts listening; resolves once the port is bound, rejects with the bind error. Errors after
 * that (an accept that fails, such as EMFILE when libuv cannot shed the connection) go to
 * `onError`: a server 'error' event without a listener is thrown and would take the daemon down.
 */
export function listen(app: express.Express, host: string, port: number, onError: (error: Error) => void = () => undefined): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve(server);
    });
  });
}
