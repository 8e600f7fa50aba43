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
 * the code a root service runs: the same rule OpenSSH applies to the files it trusts. One
 * exception, for the folders above (never the file itself): a root-owned folder with the sticky bit
 * (`/tmp`, mode 1777) is safe, since in it nobody but an entry's owner (here root) may rename or
 * remove that entry.
 */
export function findUnsafePath(path: string): UnsafePath | undefined {
  const resolved = realpathSync(path);
  const chain: string[] = [];
  for (let at = resolved; ; at = dirname(at)) {
    chain.unshift(at);
    if (dirname(at) === at) break;
  }
  for (const [i, at] of chain.entries()) {
    const unsafe = unsafeEntry(at, statSync(at), i < chain.length - 1);
    if (unsafe) return unsafe;
  }
  return undefined;
}

/**
 * Why one entry (not its ancestors) is unsafe, or undefined. `above`: it is a folder on the way to
 * what is checked, where a root-owned sticky folder is safe.
 */
export function unsafeEntry(path: string, info = statSync(path), above = false): UnsafePath | undefined {
  const mode = info.mode & 0o7777;
  const stickyRootFolder = above && info.isDirectory() && info.uid === 0 && (mode & 0o1000) !== 0;
  const reason =
    info.uid !== 0 ? `owned by uid ${info.uid}, not root` : stickyRootFolder ? undefined : mode & 0o002 ? 'writable by every user' : mode & 0o020 ? 'writable by its group' : undefined;
  return reason ? { path, uid: info.uid, mode, reason } : undefined;
}

/** `/home/me (owned by uid 1000, not root; mode 0755)`. */
export function describeUnsafePath(unsafe: UnsafePath): string {
  return `${unsafe.path} (${unsafe.reason}; mode 0${unsafe.mode.toString(8)})`;
}
