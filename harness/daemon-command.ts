import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './fixture-programs.js';

export const tail2dPath = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2d.js');

const unit = readFileSync(join(repoRoot, 'systemd', 'tail2.service'), 'utf8');

/**
 * The flags the systemd unit gives node before tail2d.js (V8's heap sizing), read from
 * systemd/tail2.service so that tests and benchmarks measure the daemon as it runs in production.
 */
export const daemonNodeFlags: readonly string[] = (() => {
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (!execStart) throw new Error('systemd/tail2.service: no ExecStart= line');
  const words = execStart.trim().split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('/tail2d.js'));
  if (script < 1) throw new Error(`systemd/tail2.service: ExecStart= does not run node on tail2d.js: ${execStart}`);
  return words.slice(1, script);
})();

/**
 * The allocator's settings the unit gives tail2d (its `Environment=MALLOC_…` assignments, as
 * `NAME=value`), for the same reason. The unit's other variables (NODE_ENV) are left to each test.
 */
export const daemonAllocatorEnvironment: readonly string[] = [...unit.matchAll(/^Environment=(.*)$/gm)].flatMap((line) =>
  line[1]
    .trim()
    .split(/\s+/)
    .filter((assignment) => assignment.startsWith('MALLOC_')),
);

/**
 * The command line that runs this checkout's tail2d (or `tail2d`, another copy) on `configPath` as
 * the unit does: through env(1) with the allocator's settings, which exec's node in its place (the
 * first word's pid is the daemon's).
 */
export function tail2dCommand(configPath: string, tail2d = tail2dPath): string[] {
  const node = [process.execPath, ...daemonNodeFlags, tail2d, '--config', configPath];
  return daemonAllocatorEnvironment.length > 0 ? ['/usr/bin/env', ...daemonAllocatorEnvironment, ...node] : node;
}
