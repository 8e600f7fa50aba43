import { existsSync } from 'node:fs';
import { chmod, cp, lchown, lstat, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Copies `files` (paths relative to `source`, files or folders) into `target`, owned by root,
 * folders 0755 and files 0644 (0755 when the source was executable) whatever the source's owner,
 * modes or umask. Symbolic links are copied as what they point to, so nothing in the copy leads
 * back into the source. A package folder's own `node_modules` is left out: nested packages are
 * listed in `files` by themselves.
 *
 * The copy is built beside `target` and renamed into place; an old `target` is renamed away first
 * and removed, never overwritten: a running tail2d keeps the files it has open and mapped (its
 * addon) until it restarts onto the new copy.
 */
export async function copyPackage(source: string, target: string, files: string[]): Promise<void> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const staging = await mkdtemp(join(parent, `.${basename(target)}.new-`));
  try {
    for (const file of files) {
      const from = join(source, file);
      const to = join(staging, file);
      await mkdir(dirname(to), { recursive: true });
      const nested = join(from, 'node_modules');
      await cp(from, to, { recursive: true, dereference: true, preserveTimestamps: true, filter: (path) => !file.startsWith('node_modules/') || path !== nested });
    }
    await makeRootOwned(staging);
    const old = existsSync(target) ? join(parent, `.${basename(target)}.old-${process.pid}-${Date.now()}`) : undefined;
    if (old) await rename(target, old);
    await rename(staging, target);
    if (old) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
}

/** Owner root:root and modes 0755 / 0644 (0755 for executables) for `path` and everything under it; anything but files and folders is removed. */
async function makeRootOwned(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isDirectory()) {
    // Children first: the staging folder stays 0700 (mkdtemp's) until everything inside is safe.
    for (const name of await readdir(path)) await makeRootOwned(join(path, name));
    await lchown(path, 0, 0);
    await chmod(path, 0o755);
  } else if (info.isFile()) {
    await lchown(path, 0, 0);
    await chmod(path, info.mode & 0o111 ? 0o755 : 0o644);
  } else {
    await rm(path, { force: true });
  }
}
