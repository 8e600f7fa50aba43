import express, { type Express, type Request, type Response } from 'express';
import type { PageModel, PageRenderer } from './page-renderer.js';
import { RateLimiter } from './rate-limiter.js';
import { safeNextPath } from './safe-next-path.js';
import { secretsEqual, SESSION_COOKIE, SESSION_MAX_AGE_MS, sessionValue, type SessionAuth } from './session-auth.js';

/** views/login.ejs. */
export interface LoginPageModel extends PageModel {
  /** Where to go after logging in: already checked to be a local path. */
  next: string;
  message: string | null;
  tokenConfigured: boolean;
}

/**
 * Failed logins allowed per client address and minute: enough for typos, too few to guess a
 * token. Only failures count (a right token ends the guessing), but once the limit is reached
 * even the right token waits, so a guess cannot be confirmed by a different answer.
 */
const FAILED_LOGINS_PER_MINUTE = 10;

/**
 * `GET /login` (the form) and `POST /login` (field `token`): a right token sets the session cookie
 * and redirects (303) to `next` when that is a local path; a wrong one answers 401 with the form.
 */
export function addLoginRoutes(app: Express, auth: SessionAuth, pages: PageRenderer): void {
  const limiter = new RateLimiter(FAILED_LOGINS_PER_MINUTE, 60_000);
  const form = (res: Response, status: number, next: string, message?: string): void =>
    pages.render<LoginPageModel>(res, 'login', { title: 'Log in', next, message: message ?? null, tokenConfigured: Boolean(auth.token) }, status);

  app.get('/login', (req, res) => {
    const next = safeNextPath(req.query.next);
    if (auth.check(req) !== undefined && auth.token) {
      res.redirect(303, next);
      return;
    }
    form(res, 200, next);
  });

  app.post('/login', express.urlencoded({ extended: false, limit: '4kb' }), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
    const next = safeNextPath(body.next ?? req.query.next);
    if (!auth.token) {
      res.redirect(303, next);
      return;
    }
    // Keyed by the socket's address: X-Forwarded-For is not trusted, anyone can send it.
    const client = req.socket.remoteAddress ?? 'unknown';
    const waitMs = limiter.waitMs(client);
    if (waitMs > 0) {
      res.set('Retry-After', String(Math.ceil(waitMs / 1000)));
      form(res, 429, next, `Too many attempts from this address. Wait ${Math.ceil(waitMs / 1000)} s and try again.`);
      return;
    }
    if (typeof body.token !== 'string' || !secretsEqual(body.token, auth.token)) {
      limiter.record(client);
      form(res, 401, next, 'That is not this tail2’s token. It is web.token in tail2.yaml on the host.');
      return;
    }
    res.cookie(SESSION_COOKIE, sessionValue(auth.token), {
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      // req.secure only when this server terminated TLS itself: X-Forwarded-Proto is not trusted.
      secure: req.secure,
      maxAge: SESSION_MAX_AGE_MS,
    });
    res.redirect(303, next);
  });
}
