import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './fixture-programs.js';

export const tail2dPath = join(repoRoot, 'dist', 'daemon', 'cli', 'tail2d.js');

/**
 * The flags the systemd unit gives node before tail2d.js (V8's heap sizing), read from
 * systemd/tail2.service so that tests and benchmarks measure the daemon as it runs in production.
 */
export const daemonNodeFlags: readonly string[] = (() => {
  const unit = readFileSync(join(repoRoot, 'systemd', 'tail2.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (!execStart) throw new Error('systemd/tail2.service: no ExecStart= line');
  const words = execStart.trim().split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('/tail2d.js'));
  if (script < 1) throw new Error(`systemd/tail2.service: ExecStart= does not run node on tail2d.js: ${execStart}`);
  return words.slice(1, script);
})();

/** The command line that runs this checkout's tail2d (or `tail2d`, another copy) on `configPath` as the unit does. */
export function tail2dCommand(configPath: string, tail2d = tail2dPath): string[] {
  return [process.execPath, ...daemonNodeFlags, tail2d, '--config', configPath];
}
