import { existsSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Tail2Error } from '../model/tail2-error.js';
import { copyPackage } from '../install/copy-package.js';
import { describeUnsafePath, findUnsafePath, unsafeEntry, type UnsafePath } from '../install/root-owned-path.js';
import { runtimeFiles } from '../install/runtime-files.js';
import { configSetsToken, configWithToken, generateWebToken } from '../install/web-token.js';

/** The checkout (or installed package) this command runs from: dist/daemon/cli → three up. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where the service's copy of tail2 goes by default. */
export const DEFAULT_PREFIX = '/opt/tail2';

export interface InstallOptions {
  /** Installs under this folder instead of `/` (images, tests). @defaultValue '/' */
  root?: string;
  /** The service's copy of tail2, as the installed system sees it (under `root`). @defaultValue {@link DEFAULT_PREFIX} */
  prefix?: string;
  /** The node binary the unit runs. @defaultValue process.execPath */
  nodePath?: string;
}

export interface InstallResult {
  written: string[];
  kept: string[];
  /** Where the package was copied to (under `root`); undefined when this command runs from that copy already. */
  copiedTo?: string;
  /** What the admin should know: a kept config without web.token, say. */
  notes: string[];
}

/**
 * Puts tail2 in place as a systemd service under `root`: a root-owned copy of the package in
 * `prefix`, the unit (ExecStart running that copy with this node), the config with a new random
 * `web.token` (mode 0600) and the example rules in /etc/tail2/. An existing config or rules file is
 * kept; the unit and the copy are replaced, so running it again after an update is safe.
 *
 * Why a copy, not the checkout in place: the service runs as root, so whoever can change the code
 * it runs is root. A checkout is where people build, pull and edit, often as themselves, and a
 * service running it would change under its feet on every `git pull`. Checking the checkout in place
 * would make admins build as root inside a root-owned tree; a copy lets them build as anyone and
 * install as root, and the service runs what was installed until the next `tail2 install`, like a
 * package. The copy is checked all the same, with every folder above it and the node binary:
 * root-owned and writable by no one else (a root-owned copy in a folder a user may rename is no
 * safer than the checkout).
 *
 * @throws Tail2Error `TAIL2_INSTALL_NOT_ROOT`, `TAIL2_INSTALL_PREFIX` (not absolute),
 *   `TAIL2_INSTALL_UNSAFE` (the node binary, the prefix's folders or the copy could be changed by
 *   someone other than root), each with what to do.
 */
export async function installService(options: InstallOptions = {}): Promise<InstallResult> {
  const root = resolve(options.root ?? '/');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const nodePath = options.nodePath ?? process.execPath;
  if (process.geteuid?.() !== 0) {
    throw new Tail2Error('TAIL2_INSTALL_NOT_ROOT', 'tail2 install must run as root: the code the service runs is copied and owned by root.', 'Run it with sudo.');
  }
  if (!isAbsolute(prefix)) throw new Tail2Error('TAIL2_INSTALL_PREFIX', `--prefix must be an absolute path, not "${prefix}".`, `E.g. --prefix ${DEFAULT_PREFIX}.`);
  const unsafeNode = findUnsafePath(nodePath);
  if (unsafeNode) {
    throw unsafeError(
      `the node binary the service would run, ${nodePath}, could be changed by someone other than root: ${describeUnsafePath(unsafeNode)}.`,
      'Use a node installed by the system (Debian\'s nodejs package, in /usr/bin), or a root-owned copy: `install -o root -g root -m 0755 "$(command -v node)" /usr/local/bin/node`, then run tail2 install with /usr/local/bin/node.',
    );
  }

  const source = packageRoot();
  const target = join(root, prefix);
  // Checked before creating anything below it, and again once created.
  let existing = dirname(target);
  while (!existsSync(existing)) existing = dirname(existing);
  const unsafeParent = findUnsafePath(existing) ?? (await mkdir(dirname(target), { recursive: true, mode: 0o755 }), findUnsafePath(dirname(target)));
  if (unsafeParent) {
    throw unsafeError(
      `${target} would sit in a folder someone other than root could change: ${describeUnsafePath(unsafeParent)}.`,
      `Choose a --prefix under root-owned folders (the default is ${DEFAULT_PREFIX}), or fix that folder: \`chown root:root DIR && chmod go-w DIR\`.`,
    );
  }
  const result: InstallResult = { written: [], kept: [], notes: [] };
  if (existsSync(target) && realpathSync(target) === realpathSync(source)) {
    result.notes.push(`running from ${target} itself: the copy there is kept as it is`);
  } else {
    await copyPackage(source, target, runtimeFiles(source));
    result.copiedTo = target;
  }
  const unsafeCopy = findUnsafePath(target) ?? findUnsafeUnder(target);
  if (unsafeCopy) {
    throw unsafeError(`the installed copy could be changed by someone other than root: ${describeUnsafePath(unsafeCopy)}.`, `Run tail2 install again from the checkout, or fix it: \`chown -R root:root ${target} && chmod -R go-w ${target}\`.`);
  }

  const unitPath = join(root, 'etc/systemd/system/tail2.service');
  const unit = (await readFile(join(source, 'systemd/tail2.service'), 'utf8')).replaceAll('/usr/bin/node', nodePath).replaceAll(DEFAULT_PREFIX, prefix);
  await mkdir(dirname(unitPath), { recursive: true, mode: 0o755 });
  await writeFile(unitPath, unit, { mode: 0o644 });
  await chmod(unitPath, 0o644);
  result.written.push(unitPath);

  const etc = join(root, 'etc/tail2');
  await mkdir(etc, { recursive: true, mode: 0o755 });
  const configPath = join(etc, 'tail2.yaml');
  if (existsSync(configPath)) {
    result.kept.push(configPath);
    if (!configSetsToken(await readFile(configPath, 'utf8'))) {
      result.notes.push(
        `${configPath} sets no web.token: every local user can read the incidents (stacks and command lines of every process) and start captures. ` +
          'Add one under web: (e.g. `token: "<output of openssl rand -base64 32>"`) and restart tail2.',
      );
    }
  } else {
    const text = configWithToken(await readFile(join(source, 'systemd/tail2.yaml'), 'utf8'), generateWebToken());
    await writeNew(configPath, text, 0o600);
    result.written.push(configPath);
  }
  const rulesPath = join(etc, 'rules.yaml');
  if (existsSync(rulesPath)) {
    result.kept.push(rulesPath);
  } else {
    await writeNew(rulesPath, await readFile(join(source, 'config/rules.example.yaml'), 'utf8'), 0o644);
    result.written.push(rulesPath);
  }
  return result;
}

/**
 * Creates a file that must not exist yet with `mode` from the first byte: a config holding the
 * token is never readable by others, not even between its creation and a chmod (a reader who
 * opened it then would keep the descriptor). The chmod covers a umask that took bits away.
 */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  await writeFile(path, text, { mode, flag: 'wx' });
  await chmod(path, mode);
}

/** The first entry under `dir` someone other than root could change. */
function findUnsafeUnder(dir: string): UnsafePath | undefined {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = lstatSync(path);
    const unsafe = unsafeEntry(path, info) ?? (info.isDirectory() ? findUnsafeUnder(path) : undefined);
    if (unsafe) return unsafe;
  }
  return undefined;
}

function unsafeError(message: string, hint: string): Tail2Error {
  return new Tail2Error('TAIL2_INSTALL_UNSAFE', `tail2 install refuses: ${message}`, hint);
}

export function registerInstallCommand(program: Command): Command {
  return program
    .command('install')
    .description(`install tail2d as a systemd service: a root-owned copy in ${DEFAULT_PREFIX}, the unit, /etc/tail2/tail2.yaml (with a random web.token) and rules.yaml (existing ones are kept)`)
    .option('--root <dir>', 'install under this folder instead of / (for images and tests)', '/')
    .option('--prefix <dir>', 'where the service runs tail2 from (a root-owned copy of this package)', DEFAULT_PREFIX)
    .action(async (options: { root: string; prefix: string }) => {
      const root = resolve(options.root);
      const result = await installService({ root, prefix: options.prefix });
      if (result.copiedTo) process.stdout.write(`copied tail2 to ${result.copiedTo} (owned by root: the service runs this copy, not the checkout)\n`);
      for (const path of result.written) process.stdout.write(`wrote ${path}${path.endsWith('tail2.yaml') ? ' (mode 600, with a new random web.token)' : ''}\n`);
      for (const path of result.kept) process.stdout.write(`kept  ${path} (already there)\n`);
      for (const note of result.notes) process.stdout.write(`note: ${note}\n`);
      process.stdout.write(
        root === '/'
          ? 'next: edit /etc/tail2/tail2.yaml and rules.yaml, then `systemctl daemon-reload && systemctl enable --now tail2` (after an update: `systemctl restart tail2`)\n'
          : `installed under ${root}\n`,
      );
    });
}
