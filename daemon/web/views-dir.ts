import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root: the first folder above this file holding package.json. The code runs from
 * `daemon/web/` under the test runner and from `dist/daemon/web/` when built, and `tsc` copies no
 * templates, so `views/` is found from the root rather than next to the compiled file.
 */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'views'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the tail2 package root (package.json beside views/) above ${start}`);
  }
}

const ROOT = packageRoot();

/** The ejs templates. */
export const VIEWS_DIR = join(ROOT, 'views');

/** Served at `/static/`: the stylesheets. */
export const STATIC_DIR = join(VIEWS_DIR, 'static');

/** Also served at `/static/`: the pages' scripts, bundled from views/client/ by `npm run build`. */
export const BUILT_STATIC_DIR = join(ROOT, 'dist', 'static');
