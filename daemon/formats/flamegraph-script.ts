import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tail2Error } from '../model/tail2-error.js';

/** Where the build puts the SVG flamegraphs' script, relative to the package root. */
export const FLAMEGRAPH_SCRIPT_FILE = 'dist/embedded/flamegraph-svg.js';

/** The SVG flamegraphs' script is not built, or cannot be embedded. */
export class FlamegraphScriptError extends Tail2Error<'TAIL2_SVG_SCRIPT'> {
  override name = 'FlamegraphScriptError';
}

let cached: string | undefined;

/**
 * The script embedded in interactive SVG flamegraphs: views/client/svg-flamegraph.ts bundled with
 * what it imports into one classic script by `npm run build` (scripts/build-client.mjs). Read once,
 * at the first SVG, from the package root (found from the sources under vitest or from dist/).
 * @throws FlamegraphScriptError when it is not built or cannot be embedded (see {@link readFlamegraphScript})
 */
export function flamegraphScript(): string {
  return (cached ??= readFlamegraphScript(scriptPath()));
}

/**
 * The script at `file`, checked for what would break the SVG it goes into.
 * @throws FlamegraphScriptError when the file is missing, or holds `]]>` (the script sits in a CDATA section)
 */
export function readFlamegraphScript(file: string): string {
  if (!existsSync(file)) throw notBuilt();
  const text = readFileSync(file, 'utf8');
  if (text.includes(']]>')) throw new FlamegraphScriptError('TAIL2_SVG_SCRIPT', `${file} contains "]]>", which would end the SVG's CDATA section early.`);
  return text;
}

function scriptPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, FLAMEGRAPH_SCRIPT_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw notBuilt();
}

function notBuilt(): FlamegraphScriptError {
  return new FlamegraphScriptError('TAIL2_SVG_SCRIPT', `the SVG flamegraphs' script ${FLAMEGRAPH_SCRIPT_FILE} is not built.`, 'Run `npm run build`.');
}
