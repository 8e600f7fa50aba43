import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, found from this file in bench/ or in dist/bench/. */
export const repoRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();
export const fixtureSources = join(repoRoot, 'test', 'fixtures', 'programs');
export const testOutput = join(repoRoot, 'test-output');

/**
 * Compiles a C fixture from test/fixtures/programs at -O0, where gcc keeps a frame pointer in every
 * function, leaves included (at -O1 it drops it from leaf functions whatever the flags, hiding the
 * caller from a frame-pointer unwinder), unless the binary is current. The binary is named after
 * the source (or `binaryName`, for a second build with other flags), so that name is its comm.
 */
export function buildCFixture(name: string, extraFlags: string[] = [], binaryName = name): string {
  const binDir = join(testOutput, 'fixtures');
  mkdirSync(binDir, { recursive: true });
  const source = join(fixtureSources, `${name}.c`);
  const binary = join(binDir, binaryName);
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    execFileSync('gcc', ['-O0', '-g', '-fno-omit-frame-pointer', ...extraFlags, '-o', binary, source]);
  }
  return binary;
}
