import type { NextFunction, Request, Response } from 'express';

/**
 * The pages' policy: scripts and styles only from our own files (no inline `<script>`, `style=""`
 * or `on*=` handlers anywhere in the views), images from us or data: URLs, no framing, forms post
 * only to us.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The artifacts' policy. The interactive flamegraph SVGs carry their own inline script and styles
 * (daemon/formats/flamegraph-svg.ts) and must keep working when opened on their own; the text they
 * show is escaped by the renderer, and with `default-src 'none'` they can load or send nothing.
 */
export const ARTIFACT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

/** Sets the headers every response carries; artifact routes replace the CSP with {@link ARTIFACT_CSP}. */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': PAGE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  });
  next();
}
