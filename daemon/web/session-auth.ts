import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { RateLimiter } from './rate-limiter.js';

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
 * Wrong tokens allowed per client address and minute, counted together for the login form and
 * `Authorization: Bearer`: enough for typos, too few to guess a token. Only failures count (a
 * right token ends the guessing), but once the limit is reached even the right token waits, so a
 * guess cannot be confirmed by a different answer.
 */
export const FAILED_TOKENS_PER_MINUTE = 10;

/** How a request with `Authorization: Bearer …` fared. */
type BearerOutcome = { ok: true } | { ok: false; status: 401 | 429; waitMs?: number };

/**
 * Who may read (`web.token`): with a token configured, either `Authorization: Bearer TOKEN` or
 * the session cookie set by `POST /login`. Wrong tokens, by either way, count against one limit
 * per client address ({@link failures}); the cookie is not counted: it is an HMAC nobody can
 * guess, and a browser still holding one from before a token change must not lock its address out.
 */
export class SessionAuth {
  private readonly cookieValue: string | undefined;
  /** Wrong tokens per client address (the socket's: X-Forwarded-For is not trusted, anyone can send it). */
  readonly failures = new RateLimiter(FAILED_TOKENS_PER_MINUTE, 60_000);

  constructor(readonly token: string | undefined) {
    this.cookieValue = token ? sessionValue(token) : undefined;
  }

  /** Whether the request carries a valid session cookie (always true without a token). */
  hasSession(req: Request): boolean {
    if (!this.token || this.cookieValue === undefined) return true;
    const cookie = readCookie(req, SESSION_COOKIE);
    return cookie !== undefined && secretsEqual(cookie, this.cookieValue);
  }

  /**
   * Lets authenticated requests through (recording how in `res.locals.auth`). A request with a
   * Bearer token is judged by it alone: a wrong one answers 401 and counts as a failure, and an
   * address past the limit gets 429 with Retry-After, right token or not. Without one, API routes
   * answer others with 401 JSON, pages with a 303 to the login page that comes back here afterwards.
   */
  middleware(): (req: Request, res: Response, next: NextFunction) => void {
    return (req, res, next) => {
      if (!this.token) {
        res.locals.auth = 'open' satisfies AuthMethod;
        next();
        return;
      }
      const bearer = /^bearer +(.*)$/i.exec(req.get('authorization') ?? '');
      if (bearer) {
        const outcome = this.checkBearer(clientAddress(req), bearer[1]);
        if (outcome.ok) {
          res.locals.auth = 'bearer' satisfies AuthMethod;
          next();
        } else if (outcome.status === 429) {
          const seconds = Math.ceil((outcome.waitMs ?? 0) / 1000);
          res.status(429).set('Retry-After', String(seconds)).json({ error: `too many wrong tokens from this address: wait ${seconds} s and try again` });
        } else {
          res.status(401).json({ error: 'wrong token: "Authorization: Bearer <web.token>" must carry web.token of this tail2 (in tail2.yaml on the host)' });
        }
        return;
      }
      if (this.hasSession(req)) {
        res.locals.auth = 'cookie' satisfies AuthMethod;
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

  /** The limit first (a locked-out address learns nothing, right token or not), then the token. */
  private checkBearer(client: string, given: string): BearerOutcome {
    const waitMs = this.failures.waitMs(client);
    if (waitMs > 0) return { ok: false, status: 429, waitMs };
    if (this.token !== undefined && secretsEqual(given, this.token)) return { ok: true };
    this.failures.record(client);
    return { ok: false, status: 401 };
  }
}

/** The key of the failure limit: the connection's address (a header would be the client's word). */
export function clientAddress(req: Request): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Paths that answer JSON (or text for scripts), never HTML pages. */
export function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/metrics' || path === '/healthz';
}
