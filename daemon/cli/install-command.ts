import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** The checkout (or installed package) this command runs from: dist/daemon/cli → three up. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export interface InstallResult {
  written: string[];
  kept: string[];
}

/**
 * Puts tail2 in place as a systemd service under `root` ('/' on a host; a scratch folder in
 * tests): the unit (ExecStart pointing at this checkout's tail2d and at this node), the default
 * config and the example rules in /etc/tail2/. An existing config or rules file is kept; the
 * unit is always rewritten, so running it again after an update is safe.
 */
export async function installService(root: string, nodePath = process.execPath): Promise<InstallResult> {
  const source = packageRoot();
  const result: InstallResult = { written: [], kept: [] };
  const unitPath = join(root, 'etc/systemd/system/tail2.service');
  const unit = (await readFile(join(source, 'systemd/tail2.service'), 'utf8'))
    .replaceAll('/usr/bin/node', nodePath)
    .replaceAll('/opt/tail2', source);
  await mkdir(dirname(unitPath), { recursive: true });
  await writeFile(unitPath, unit, { mode: 0o644 });
  result.written.push(unitPath);
  const etc = join(root, 'etc/tail2');
  await mkdir(etc, { recursive: true, mode: 0o755 });
  for (const [from, to, mode] of [
    ['systemd/tail2.yaml', 'tail2.yaml', 0o600],
    ['config/rules.example.yaml', 'rules.yaml', 0o644],
  ] as const) {
    const target = join(etc, to);
    if (existsSync(target)) {
      result.kept.push(target);
      continue;
    }
    await copyFile(join(source, from), target);
    await chmod(target, mode);
    result.written.push(target);
  }
  return result;
}

export function registerInstallCommand(program: Command): Command {
  return program
    .command('install')
    .description('install tail2d as a systemd service: the unit, /etc/tail2/tail2.yaml and rules.yaml (existing ones are kept)')
    .option('--root <dir>', 'install under this folder instead of / (for images and tests)', '/')
    .action(async (options: { root: string }) => {
      const root = resolve(options.root);
      const result = await installService(root);
      for (const path of result.written) process.stdout.write(`wrote ${path}\n`);
      for (const path of result.kept) process.stdout.write(`kept  ${path} (already there)\n`);
      process.stdout.write(
        root === '/'
          ? 'next: edit /etc/tail2/tail2.yaml and rules.yaml, then `systemctl daemon-reload && systemctl enable --now tail2`\n'
          : `installed under ${root}\n`,
      );
    });
}
