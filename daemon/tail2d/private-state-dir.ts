import { chmod, mkdir, stat } from 'node:fs/promises';

/** What {@link preparePrivateStateDir} found and did. */
export interface StateDirModes {
  /** The mode the directory had when it let others in and was tightened to 0700. */
  tightenedFrom?: number;
  /** The mode of a directory that lets others in but is not tail2d's to change (another owner's, or sticky like /tmp). */
  sharedMode?: number;
}

/**
 * Creates `state_dir` 0700 (whatever the umask), or tightens an existing one that group or others
 * may enter: it holds every incident, the index and tail2d's Redis socket. A directory tail2d does
 * not own, or a sticky one (a shared folder such as /tmp), is left alone and reported: everything
 * tail2d writes inside is private anyway (files 0600, folders 0700).
 */
export async function preparePrivateStateDir(path: string): Promise<StateDirModes> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const info = await stat(path);
  const mode = info.mode & 0o7777;
  if ((mode & 0o077) === 0) return {};
  const shared = (mode & 0o1000) !== 0 || info.uid !== process.getuid?.();
  if (shared) return { sharedMode: mode };
  await chmod(path, 0o700);
  return { tightenedFrom: mode };
}
