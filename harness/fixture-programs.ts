import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
const binDir = join(testOutput, 'fixtures');

/**
 * Compiles a C fixture from test/fixtures/programs at -O0, where gcc keeps a frame pointer in every
 * function, leaves included (at -O1 it drops it from leaf functions whatever the flags, hiding the
 * caller from a frame-pointer unwinder), unless the binary is current. The binary is named after
 * the source (or `binaryName`, for a second build with other flags), so that name is its comm.
 */
export function buildCFixture(name: string, extraFlags: string[] = [], binaryName = name): string {
  return compileC(join(fixtureSources, `${name}.c`), ['-O0', '-g', '-fno-omit-frame-pointer', ...extraFlags], binaryName);
}

/**
 * The optimized builds of the unwinding fixtures: code as a distribution compiles it, without and
 * with frame pointers. Both keep the .eh_frame gcc emits by default on x86-64 (and -g's DWARF, for
 * the symbolizer's file:line). Neither needs -fno-optimize-sibling-calls: the fixtures keep their
 * frames with `noipa` and work after each call, so what is measured is what -O2 really does.
 */
export const OPTIMIZED_BUILDS = {
  /** `-O2 -fomit-frame-pointer`: %rbp is an ordinary register; only the CFI knows the frames. */
  nofp: ['-O2', '-g', '-fomit-frame-pointer'],
  /** `-O2 -fno-omit-frame-pointer`: a frame-pointer chain, as in Fedora's or Ubuntu 24.04's builds. */
  fp: ['-O2', '-g', '-fno-omit-frame-pointer'],
} as const satisfies Record<string, readonly string[]>;

/** One of {@link OPTIMIZED_BUILDS}. */
export type OptimizedBuild = keyof typeof OPTIMIZED_BUILDS;

/** The optimized builds, frameless first. */
export const optimizedBuilds = Object.keys(OPTIMIZED_BUILDS) as OptimizedBuild[];

/**
 * Compiles test/fixtures/programs/`name`.c with one of the {@link OPTIMIZED_BUILDS} into
 * test-output/fixtures/`name`-`build` (so both builds exist side by side), unless it is current.
 * @returns The binary's path.
 */
export function buildOptimizedCFixture(name: string, build: OptimizedBuild): string {
  return compileC(join(fixtureSources, `${name}.c`), [...OPTIMIZED_BUILDS[build]], `${name}-${build}`);
}

/**
 * Compiles test/fixtures/programs/`name`.c as a shared library (-shared -fPIC) with one of the
 * {@link OPTIMIZED_BUILDS} into test-output/fixtures/lib`name`-`build`.so, unless it is current.
 * @returns The library's path.
 */
export function buildOptimizedCLibrary(name: string, build: OptimizedBuild): string {
  return compileC(join(fixtureSources, `${name}.c`), [...OPTIMIZED_BUILDS[build], '-shared', '-fPIC'], `lib${name}-${build}.so`);
}

/**
 * gcc `flags` `source` -o test-output/fixtures/`output`, unless the output is newer than the
 * source and the headers beside it and was built with the same flags (kept in `output`.flags).
 */
function compileC(source: string, flags: string[], output: string): string {
  mkdirSync(binDir, { recursive: true });
  const binary = join(binDir, output);
  const flagsFile = `${binary}.flags`;
  const flagsText = flags.join(' ');
  const inputs = [source, ...headersBeside(source)];
  const current =
    existsSync(binary) &&
    existsSync(flagsFile) &&
    readFileSync(flagsFile, 'utf8') === flagsText &&
    inputs.every((input) => statSync(binary).mtimeMs >= statSync(input).mtimeMs);
  if (!current) {
    execFileSync('gcc', [...flags, '-o', binary, source]);
    writeFileSync(flagsFile, flagsText);
  }
  return binary;
}

/** The fixture headers a source includes with `#include "…"` (they sit beside it). */
function headersBeside(source: string): string[] {
  const text = readFileSync(source, 'utf8');
  return [...text.matchAll(/^#include "([^"]+)"/gm)].map((match) => join(dirname(source), match[1]));
}
