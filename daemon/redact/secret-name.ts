import { DEFAULT_SECRET_PARTS, DEFAULT_SECRET_WORDS, type RedactRules } from '../model/redact-rules.js';

/**
 * Whether the value of an option or variable called `name` is a secret under `rules`: it contains a
 * built-in word or one of `rules.names`, or one of its word parts is a built-in part. `name` is as
 * written, without its dashes (`api-key`, `AWS_SECRET_ACCESS_KEY`, `Dpassword`, `Authorization`).
 */
export function isSecretName(name: string, rules: RedactRules): boolean {
  const lower = name.toLowerCase();
  for (const word of rules.names) if (lower.includes(word)) return true;
  if (!rules.defaults) return false;
  for (const word of DEFAULT_SECRET_WORDS) if (lower.includes(word)) return true;
  for (const part of wordParts(name)) if (DEFAULT_SECRET_PARTS.has(part)) return true;
  // Java's -Dname=value: "Dkey" is the property "key".
  return /^D[A-Za-z]/.test(name) && name.length > 1 && isSecretName(name.slice(1), { ...rules, names: [] });
}

/** `HTTPAuth_apiKey-x.y` → ['http', 'auth', 'api', 'key', 'x', 'y']. Each regex is one pass (no nested quantifier). */
function wordParts(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((part) => part !== '');
}
