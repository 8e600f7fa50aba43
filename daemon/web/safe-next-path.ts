/**
 * Where to send someone after logging in: `next` when it is a path on this server, else `/`.
 * Refused: anything not starting with exactly one `/` (`//evil.com` and `/\evil.com` are
 * scheme-relative to browsers), backslashes, control characters, and anything a URL parser
 * would resolve to another origin.
 */
export function safeNextPath(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return '/';
  if (!next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/';
  if (/[\u0000-\u001F\u007F]/.test(next)) return '/';
  try {
    const base = 'http://tail2.invalid';
    const url = new URL(next, base);
    if (url.origin !== base) return '/';
    return url.pathname + url.search + url.hash;
  } catch {
    return '/';
  }
}
