import { REDACTED } from '../model/redact-rules.js';

/**
 * Hides the password in every URL of `text`: `https://user:pass@host/` → `https://user:<redacted>@host/`,
 * `redis://:pass@host` → `redis://:<redacted>@host`. Userinfo without a password is hidden whole
 * (`https://ghp_token@github.com` → `https://<redacted>@github.com`): a token is often sent as the
 * user name. The authority runs from `://` to the first `/`, `?`, `#` or white space, and the
 * userinfo to its last `@` (passwords with an unescaped `@` are common). One pass, no regex.
 */
export function redactUrlUserinfo(text: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const scheme = text.indexOf('://', from);
    if (scheme < 0) break;
    const start = scheme + 3;
    let end = start;
    while (end < text.length && !isAuthorityEnd(text.charCodeAt(end))) end++;
    const at = text.lastIndexOf('@', end - 1);
    if (at >= start) {
      const userinfo = text.slice(start, at);
      const colon = userinfo.indexOf(':');
      const kept = colon >= 0 ? `${userinfo.slice(0, colon + 1)}${REDACTED}` : REDACTED;
      out += text.slice(from, start) + kept;
      from = at;
    } else {
      out += text.slice(from, end);
      from = end;
    }
  }
  return out + text.slice(from);
}

/** `/`, `?`, `#` or white space. */
function isAuthorityEnd(c: number): boolean {
  return c === 0x2f || c === 0x3f || c === 0x23 || c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
