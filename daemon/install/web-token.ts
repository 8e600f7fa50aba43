import { randomBytes } from 'node:crypto';
import { parseDocument } from 'yaml';

/** A new `web.token`: 32 random bytes, base64url (43 characters). */
export function generateWebToken(): string {
  return randomBytes(32).toString('base64url');
}

/** `text` (a tail2.yaml) with `web.token` set to `token`, after the other `web:` keys; comments and layout are kept. */
export function configWithToken(text: string, token: string): string {
  const doc = parseDocument(text);
  const value = doc.createNode(token);
  value.comment = ' random, from tail2 install';
  doc.setIn(['web', 'token'], value);
  return doc.toString();
}

/** Whether a tail2.yaml sets `web.token` (a `${VAR}` reference counts). False when it does not parse. */
export function configSetsToken(text: string): boolean {
  try {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) return false;
    const token: unknown = doc.getIn(['web', 'token']);
    return typeof token === 'string' && token !== '';
  } catch {
    return false;
  }
}
