import { isIP } from 'node:net';
import type { NextFunction, Request, Response } from 'express';

/**
 * Without `web.token` tail2d listens on loopback only, and anything that reaches it may read.
 * A web page can still reach it through the visitor's browser by DNS rebinding (its own name
 * made to resolve to 127.0.0.1): the browser then sends that name as Host. So an open daemon
 * answers only requests addressed to a loopback name or address, or to `web.public_url`'s host.
 */
export function loopbackHostOnly(publicUrl: string | undefined): (req: Request, res: Response, next: NextFunction) => void {
  const allowed = new Set(['localhost']);
  if (publicUrl) {
    try {
      allowed.add(bareHostname(new URL(publicUrl).hostname));
    } catch {
      // An unparsable public_url names no host to allow.
    }
  }
  return (req, res, next) => {
    const host = req.headers.host;
    // HTTP/1.0 clients may send no Host; browsers, the only rebinding vehicle, always do.
    if (host === undefined || isLoopbackOrAllowed(hostnameOf(host), allowed)) {
      next();
      return;
    }
    res.status(403).json({ error: `this tail2 has no web.token and answers only requests addressed to localhost or web.public_url, not ${JSON.stringify(host)}` });
  };
}

function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1].toLowerCase();
  return host.replace(/:\d+$/, '').toLowerCase();
}

function bareHostname(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

function isLoopbackOrAllowed(hostname: string, allowed: Set<string>): boolean {
  if (allowed.has(hostname) || hostname.endsWith('.localhost')) return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  if (isIP(hostname) === 6) return hostname === '::1' || hostname === '0:0:0:0:0:0:0:1';
  return false;
}
