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
