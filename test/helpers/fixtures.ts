import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtureSources = join(repoRoot, 'test', 'fixtures', 'programs');
export const testOutput = join(repoRoot, 'test-output');
const fixtureBin = join(testOutput, 'fixtures');

/**
 * Compiles a C fixture from test/fixtures/programs at -O0, where gcc keeps a frame pointer in every
 * function, leaves included (at -O1 it drops it from leaf functions whatever the flags, hiding the
 * caller from a frame-pointer unwinder), unless the binary is current. The binary is named after
 * the source, so that name is its comm.
 */
export function buildCFixture(name: string, extraFlags: string[] = []): string {
  mkdirSync(fixtureBin, { recursive: true });
  const source = join(fixtureSources, `${name}.c`);
  const binary = join(fixtureBin, name);
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    execFileSync('gcc', ['-O0', '-g', '-fno-omit-frame-pointer', ...extraFlags, '-o', binary, source]);
  }
  return binary;
}

/** Starts a fixture process; the caller kills it. */
export function startFixture(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

/** The compiled CLI. `npm test` builds it (scripts/setup.sh) before vitest starts. */
export const cliPath = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the tail2 CLI to completion. */
export function runCli(args: string[], options: { wrapper?: string[] } = {}): Promise<CliResult> {
  const command = options.wrapper ? options.wrapper[0] : process.execPath;
  const argv = options.wrapper ? [...options.wrapper.slice(1), process.execPath, cliPath, ...args] : [cliPath, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}
