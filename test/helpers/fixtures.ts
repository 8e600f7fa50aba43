import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../harness/fixture-programs.js';

export { buildCFixture, fixtureSources, repoRoot, testOutput } from '../../harness/fixture-programs.js';

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

/** A tail2 CLI still running: what it wrote to stderr so far, and its result once it ends. */
export interface RunningCli {
  child: ChildProcess;
  stderr(): string;
  done: Promise<CliResult>;
}

/** Starts the tail2 CLI (after `wrapper`, a command line that ends by exec'ing its arguments). */
export function startCli(args: string[], options: { wrapper?: string[] } = {}): RunningCli {
  const command = options.wrapper ? options.wrapper[0] : process.execPath;
  const argv = options.wrapper ? [...options.wrapper.slice(1), process.execPath, cliPath, ...args] : [cliPath, ...args];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliResult>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
  return { child, stderr: () => stderr, done };
}

/** Runs the tail2 CLI to completion. */
export function runCli(args: string[], options: { wrapper?: string[] } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}
