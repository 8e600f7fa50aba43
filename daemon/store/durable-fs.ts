import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * What every file of the store is: the owner's alone. Incidents hold stacks, command lines and
 * metrics of every process on the host, which other local users must not read.
 */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Writes a file and fsyncs it before closing, so that once a rename publishes it, the content is on
 * the disk and not only in the page cache (a power cut after the rename must not leave a file of
 * zeros behind a name that says "whole"). The file is {@link PRIVATE_FILE_MODE} whatever the
 * umask, also when it was there before (a leftover temporary file).
 */
export async function writeFileDurably(path: string, content: string | Uint8Array): Promise<void> {
  const file = await open(path, 'w', PRIVATE_FILE_MODE);
  try {
    // open()'s mode is masked by the umask and ignored for an existing file: set it outright.
    await file.chmod(PRIVATE_FILE_MODE);
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Fsyncs a directory, which is what makes a create, rename or unlink inside it durable. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a file's content atomically: writes `.<name>.tmp` beside it, fsyncs, renames over the
 * old file, fsyncs the directory. A reader, or a restart after a crash, sees the old or the new
 * content, never a mix. The temporary name is fixed, so a crash leaves at most one behind and the
 * next replace overwrites it.
 */
export async function replaceFileAtomically(path: string, content: string | Uint8Array): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.tmp`);
  try {
    await writeFileDurably(temporary, content);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDirectory(directory);
}

/** Whether an error is "no such file or directory". */
export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOENT';
}
