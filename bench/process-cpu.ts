import { execFileSync } from 'node:child_process';
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
