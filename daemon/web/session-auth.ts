import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** The session cookie's name. */
export const SESSION_COOKIE = 'tail2_session';

/** How long a browser stays logged in (ms): a month; changing `web.token` ends every session. */
export const SESSION_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/**
 * Header a cookie-authenticated `POST /api/capture` must carry. A cross-site page cannot send a
 * custom header without a CORS preflight, which tail2 never answers, so the header proves the
 * request came from a page of this origin (the SameSite=Strict cookie already stops most of it).
 */
export const CAPTURE_PROOF_HEADER = 'x-tail2-capture';

/** How a request proved it may read: no token configured, the token itself, or the session cookie. */
export type AuthMethod = 'open' | 'bearer' | 'cookie';

/**
 * The cookie's value: HMAC-SHA256 keyed by the token over a fixed label. It is never the token
 * itself (a leaked cookie does not reveal the token for the API or another host), and every
 * holder of the token derives the same one, so no server-side session table is needed.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('tail2-session').digest('hex');
}

/** Compares secrets in time independent of where they differ (hashing first hides their lengths too). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** One cookie's value from the Cookie header, or undefined. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Who may read (DESIGN.md "HTTP", `web.token`): with a token configured, either
 * `Authorization: Bearer TOKEN` or the session cookie set by `POST /login`.
 */
export class SessionAuth {
  private readonly cookieValue: string | undefined;

  constructor(readonly token: string | undefined) {
    this.cookieValue = token ? sessionValue(token) : undefined;
  }

  /** How the request is authenticated, or undefined when it is not. */
  check(req: Request): AuthMethod | undefined {
    if (!this.token || this.cookieValue === undefined) return 'open';
    const authorization = req.get('authorization');
    if (authorization !== undefined && secretsEqual(authorization, `Bearer ${this.token}`)) return 'bearer';
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie !== undefined && secretsEqual(cookie, this.cookieValue)) return 'cookie';
    return undefined;
  }

  /**
   * Lets authenticated requests through (recording how in `res.locals.auth`); API routes answer
   * others with 401 JSON, pages with a 303 to the login page that comes back here afterwards.
   */
  middleware(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      const method = this.check(req);
      if (method) {
        res.locals.auth = method;
        next();
        return;
      }
      if (isApiPath(req.path)) {
        res.status(401).json({ error: 'this tail2 needs a token: send "Authorization: Bearer <web.token>"' });
        return;
      }
      res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
    };
  }
}

/** Paths that answer JSON (or text for scripts), never HTML pages. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/metrics' || path === '/healthz';
}
