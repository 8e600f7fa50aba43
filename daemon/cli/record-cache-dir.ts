import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Where `tail2 record` keeps what it can reuse from one run to the next (the unwind tables it
 * compiles, in `unwind-tables/`): `$XDG_CACHE_HOME/tail2`, else `~/.cache/tail2`, as the XDG base
 * directory specification says (a relative `XDG_CACHE_HOME` is ignored, as it asks).
 */
export function recordCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME;
  return join(cacheHome && isAbsolute(cacheHome) ? cacheHome : join(homedir(), '.cache'), 'tail2');
}
