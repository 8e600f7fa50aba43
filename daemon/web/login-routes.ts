import express, { type Express, type Request, type Response } from 'express';
import type { PageModel, PageRenderer } from './page-renderer.js';
import { safeNextPath } from './safe-next-path.js';
import { clientAddress, secretsEqual, SESSION_COOKIE, SESSION_MAX_AGE_MS, sessionValue, type SessionAuth } from './session-auth.js';

/** views/login.ejs. */
export interface LoginPageModel extends PageModel {
  /** Where to go after logging in: already checked to be a local path. */
  next: string;
  message: string | null;
  tokenConfigured: boolean;
}

/**
 * `GET /login` (the form) and `POST /login` (field `token`): a right token sets the session cookie
 * and redirects (303) to `next` when that is a local path; a wrong one answers 401 with the form.
 * Wrong tokens count against `auth.failures`, the limit Bearer tokens count against too
 * (`FAILED_TOKENS_PER_MINUTE` a minute per address, then 429 with Retry-After).
 */
export function addLoginRoutes(app: Express, auth: SessionAuth, pages: PageRenderer): void {
  const limiter = auth.failures;
  const form = (res: Response, status: number, next: string, message?: string): void =>
    pages.render<LoginPageModel>(res, 'login', { title: 'Log in', next, message: message ?? null, tokenConfigured: Boolean(auth.token) }, status);

  app.get('/login', (req, res) => {
    const next = safeNextPath(req.query.next);
    // The cookie alone: a Bearer header here would be a token check outside the failure limit.
    if (auth.token && auth.hasSession(req)) {
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
    const client = clientAddress(req);
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
