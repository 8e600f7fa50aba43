import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** A path on the way to code tail2d runs that someone other than root could change. */
export interface UnsafePath {
  /** The file or directory, as resolved (symbolic links followed). */
  path: string;
  uid: number;
  /** Permission bits. */
  mode: number;
  /** Why it is unsafe, in words: "owned by uid 1000", "writable by its group". */
  reason: string;
}

/**
 * The first path from `/` down to `path` (resolved through symbolic links, then every directory of
 * the result and the file itself) that is not owned by root or that its group or others may write;
 * undefined when all are safe. Such a path would let its owner, or the members of its group, swap
 * the code a root service runs: the same rule OpenSSH applies to the files it trusts.
 */
export function findUnsafePath(path: string): UnsafePath | undefined {
  const resolved = realpathSync(path);
  const chain: string[] = [];
  for (let at = resolved; ; at = dirname(at)) {
    chain.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const at of chain) {
    const unsafe = unsafeEntry(at);
    if (unsafe) return unsafe;
  }
  return undefined;
}

/** Why one entry (not its ancestors) is unsafe, or undefined. */
export function unsafeEntry(path: string, info = statSync(path)): UnsafePath | undefined {
  const mode = info.mode & 0o7777;
  const reason = info.uid !== 0 ? `owned by uid ${info.uid}, not root` : mode & 0o002 ? 'writable by every user' : mode & 0o020 ? 'writable by its group' : undefined;
  return reason ? { path, uid: info.uid, mode, reason } : undefined;
}

/** `/home/me (owned by uid 1000, not root; mode 0755)`. */
export function describeUnsafePath(unsafe: UnsafePath): string {
  return `${unsafe.path} (${unsafe.reason}; mode 0${unsafe.mode.toString(8)})`;
}
