import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CommandCost {
  /** User + system CPU seconds of the command (all its threads and reaped children), start to exit. */
  cpuSeconds: number;
  stdout: string;
}

/**
 * Runs a command under GNU time, which reports the rusage wait4() returns for it: the same
 * measure for every command compared, startup and shutdown included.
 */
export function runMeasured(argv: string[]): CommandCost {
  const dir = mkdtempSync(join(tmpdir(), 'tail2-bench-'));
  try {
    const timeFile = join(dir, 'time');
    const stdout = execFileSync('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...argv], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
    const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
    return { cpuSeconds: user + system, stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A command started under GNU time: its child, and its CPU once it has exited. */
export interface MeasuredProcess {
  /** GNU time itself; the command is its only child. */
  child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Everything it wrote to stdout so far. */
  stdout(): string;
  /** Its CPU (as {@link runMeasured} measures it) and exit code, once it has exited. */
  done: Promise<{ cpuSeconds: number; code: number | null }>;
}

/** {@link runMeasured} without blocking: for commands that must run side by side. */
export function spawnMeasured(argv: string[]): MeasuredProcess {
  const dir = mkdtempSync(join(tmpdir(), 'tail2-bench-'));
  const timeFile = join(dir, 'time');
  const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const done = new Promise<{ cpuSeconds: number; code: number | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const [user, system] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        resolve({ cpuSeconds: user + system, code });
      } catch (error) {
        reject(error as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
  return { child, stderr: () => stderr, stdout: () => stdout, done };
}
