/**
 * What {@link redactCommandLine} hides, from tail2.yaml's `redact:` key.
 *
 * Names are plain words, never regular expressions: the command lines they are matched against come
 * from every process on the host, including hostile ones, so a pattern an admin writes must never be
 * able to make tail2d backtrack for seconds on a crafted argument.
 */
export interface RedactRules {
  /** The built-in names ({@link DEFAULT_SECRET_WORDS}, {@link DEFAULT_SECRET_PARTS}). @defaultValue true */
  defaults: boolean;
  /** More names, lower-case: a name containing one of them is secret. @defaultValue [] */
  names: string[];
  /** `scheme://user:pass@host` → `scheme://user:<redacted>@host` (and `scheme://tok@host` → `scheme://<redacted>@host`). @defaultValue true */
  urlUserinfo: boolean;
}

/** What a hidden value is replaced with, so a reader sees that something was there. */
export const REDACTED = '<redacted>';

/** Redaction as tail2d does it when tail2.yaml says nothing. */
export const DEFAULT_REDACT_RULES: Readonly<RedactRules> = Object.freeze({ defaults: true, names: [], urlUserinfo: true });

/**
 * Built-in words a secret name contains anywhere, whatever surrounds them: `PGPASSWORD`,
 * `--db-password`, `client_secret`, `X_AUTH_TOKEN`, `-Djavax.net.ssl.keyStorePassword`. Long and
 * distinctive enough that a hit is almost always a secret (`--tokenizer` is the price).
 */
export const DEFAULT_SECRET_WORDS: readonly string[] = ['password', 'passwd', 'passphrase', 'secret', 'token', 'credential', 'apikey'];

/**
 * Built-in words that make a name secret only as a whole word part (parts split at `-`, `_`, `.`
 * and camelCase): `--api-key`, `AWS_SECRET_ACCESS_KEY`, `apiKey`, `--auth`, `HTTPAuth`,
 * `Authorization:`, `PWD=`, but not `--keyboard`, `--monkey` or `--author`.
 */
export const DEFAULT_SECRET_PARTS: ReadonlySet<string> = new Set(['pwd', 'key', 'keys', 'auth', 'authn', 'authz', 'oauth', 'authorization', 'authentication']);
