import { Tail2Error } from '../model/tail2-error.js';

/**
 * Why the incident store refused or failed. `code` is stable, so callers branch on it: for a write
 * that the disk refused it is the file-system error code (`ENOSPC`, `EDQUOT`, `EIO`, `EROFS`, …),
 * with SQLite's own codes translated to those where they mean the same thing.
 */
export class StoreError extends Tail2Error<string> {
  override name = 'StoreError';

  constructor(code: string, message: string, /** What a person can do about it. */ hint?: string, options?: { cause?: unknown }) {
    super(code, hint ? `${message}.` : message, hint, options);
  }
}

/** Codes the store itself raises (the rest come from the file system or SQLite). */
export const STORE_CODES = {
  /** The incident id or a file name is not one the store accepts. */
  invalid: 'EINVAL',
  /** An incident with this id is already stored. */
  exists: 'EEXIST',
  /** The same incident is being written right now. */
  busy: 'EBUSY',
  /** A list cursor that this store did not hand out. */
  cursor: 'TAIL2_STORE_CURSOR',
  /** The index was written by a newer tail2. */
  schema: 'TAIL2_STORE_SCHEMA',
  /** incident.json is there but is not a record the store can read. */
  corrupt: 'TAIL2_STORE_CORRUPT',
  /** A failure without a code (a bug rather than the disk). */
  unknown: 'TAIL2_STORE_FAILED',
} as const;

/**
 * The file-system style code of a failure. SQLite reports a full disk as SQLITE_FULL and a failed
 * write as SQLITE_IOERR_*; callers (the capture retry, /status) care about the condition, not
 * which layer hit it, so those become ENOSPC / EIO / EROFS.
 */
export function storageErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return STORE_CODES.unknown;
  if (code === 'SQLITE_FULL') return 'ENOSPC';
  if (code.startsWith('SQLITE_IOERR')) return 'EIO';
  if (code.startsWith('SQLITE_READONLY')) return 'EROFS';
  return code;
}

/** What to do about a storage failure, by code. */
export function storageHint(code: string, stateDir: string): string | undefined {
  switch (code) {
    case 'ENOSPC':
      return `The file system holding ${stateDir} is full: free space there, or lower store.max_disk so retention keeps fewer incidents; the capture is retried meanwhile`;
    case 'EDQUOT':
      return `The disk quota of the user running tail2d is used up on ${stateDir}: raise it or lower store.max_disk`;
    case 'EROFS':
      return `${stateDir} is on a read-only file system: remount it read-write or point state_dir elsewhere`;
    case 'EIO':
      return `The disk under ${stateDir} reported an I/O error: check it (dmesg, smartctl)`;
    case 'EACCES':
    case 'EPERM':
      return `tail2d may not write to ${stateDir}: check its owner and mode`;
    default:
      return undefined;
  }
}

/**
 * Codes of failures that go away on their own or once a person frees space or fixes the disk: a
 * full disk or quota, an I/O error, a file system remounted read-only after one, too many open
 * files, no memory, a busy resource. A capture whose write fails with one of these is retried;
 * any other (a record the store refuses, a failure without a code) would fail the same way again.
 */
const TRANSIENT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EAGAIN', 'EWOULDBLOCK', 'EINTR', 'EMFILE', 'ENFILE', 'ENOMEM', 'EBUSY', 'ETIMEDOUT']);

/** Whether a storage failure is worth retrying; see {@link TRANSIENT_CODES}. */
export function isTransientStorageError(error: unknown): boolean {
  return TRANSIENT_CODES.has(storageErrorCode(error));
}
