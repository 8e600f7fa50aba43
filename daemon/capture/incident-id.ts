import { randomBytes } from 'node:crypto';

/**
 * A URL-safe, sortable incident id: UTC time of firing, the rule, and a random suffix so two
 * incidents of one rule in the same second never collide: `20261125T031502Z-db-spin-k3f9q2`.
 */
export function newIncidentId(firedAtMs: number, ruleName: string): string {
  const time = new Date(firedAtMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const rule = ruleName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'incident';
  const suffix = randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(0, 6);
  return `${time}-${rule}-${suffix}`;
}

/** Incident ids as {@link newIncidentId} makes them; anything else is refused by the routes. */
export const INCIDENT_ID_PATTERN = /^\d{8}T\d{6}Z-[a-z0-9-]{1,40}-[0-9a-z]{6}$/;
