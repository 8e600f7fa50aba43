import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../daemon/config/load-config.js';
import { startDaemon } from './helpers/daemon-process.js';
import { daemonAllocatorEnvironment, daemonNodeFlags } from '../harness/daemon-command.js';
import { cliPath, repoRoot, runCli } from './helpers/fixtures.js';

// `tail2 install` into scratch roots: the root-owned copy the service runs, the unit systemd
// would load, the config with its token, the rules; from this checkout and from one an
// unprivileged user owns; and what it refuses.

// Under the system's temporary folder (root's, sticky), not the checkout: wherever a checkout lives
// (a folder a CI user owns), the folders above an install must be root's for install to accept it.
const scratch = mkdtempSync(join(tmpdir(), 'tail2-install-'));
chmodSync(scratch, 0o755);
const root = join(scratch, 'root');
mkdirSync(root);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const NOBODY = 65534;
const AS_NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
/** runCli's wrapper: the CLI under umask 000, as from a careless shell. */
const UMASK_000 = ['/bin/sh', '-c', 'umask 000 && exec "$0" "$@"'];

/** Entries under `dir` that are not root-owned, or that group or others may write. */
function unsafeEntries(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const info = lstatSync(path);
    if (info.uid !== 0 || (info.mode & 0o022) !== 0 || info.isSymbolicLink()) out.push(`${relative(dir, path)} uid ${info.uid} mode 0${(info.mode & 0o7777).toString(8)}`);
    if (info.isDirectory()) out.push(...unsafeEntries(path).map((entry) => `${name}/${entry}`));
  }
  return out;
}

/** A folder owned by nobody, as a user's home would be. */
function userFolder(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  chownSync(dir, NOBODY, NOBODY);
  chmodSync(dir, 0o755);
  return dir;
}

const tokenOf = (path: string) => /^\s+token: (\S+)/m.exec(readFileSync(path, 'utf8'))?.[1];

describe('tail2 install', () => {
  it('copies tail2 to a root-owned /opt/tail2 and writes a unit running it, and a 0600 config with a random token', async () => {
    const result = await runCli(['install', '--root', root], { wrapper: UMASK_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`copied tail2 to ${root}/opt/tail2 (owned by root`);
    const unitPath = join(root, 'etc/systemd/system/tail2.service');
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(`ExecStart=${[process.execPath, ...daemonNodeFlags].join(' ')} /opt/tail2/dist/daemon/cli/tail2d.js --config /etc/tail2/tail2.yaml`);
    expect(unit).not.toContain(repoRoot);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=/m);
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    expect(verify.stderr.trim()).toBe('');
    expect(verify.status).toBe(0);
    // The exposure score systemd gives the hardening (0 best, 10 worst); README quotes it.
    const security = execFileSync('systemd-analyze', ['security', '--offline=yes', unitPath], { encoding: 'utf8' });
    const exposure = Number(/Overall exposure level for tail2\.service: ([0-9.]+)/.exec(security)?.[1]);
    expect(exposure).toBeLessThan(4);

    // The copy: root's alone, with what tail2d loads at run time and no development packages.
    const copy = join(root, 'opt/tail2');
    expect(unsafeEntries(join(root, 'opt'))).toEqual([]);
    for (const file of ['dist/daemon/cli/tail2d.js', 'dist/notifiers/notifications.js', 'views/incident.ejs', 'views/static/incident.css', 'dist/static/incident.js', 'dist/embedded/flamegraph-svg.js', 'dist/views/client/flame-style.js', 'native/build/Release/tail2_native.node', 'build/reader/tail2-reader', 'package.json', 'node_modules/better-sqlite3/package.json', 'node_modules/express/package.json']) {
      expect(existsSync(join(copy, file)), file).toBe(true);
    }
    for (const dev of ['vitest', 'playwright-core', 'typescript', 'smtp-server']) expect(existsSync(join(copy, 'node_modules', dev)), dev).toBe(false);

    // The config tail2 accepts, with its state under /var/lib/tail2 and a token only root reads,
    // though the CLI ran under umask 000.
    const configPath = join(root, 'etc/tail2/tail2.yaml');
    expect(readFileSync(configPath, 'utf8')).toMatch(/^state_dir: \/var\/lib\/tail2$/m);
    const loaded = await loadConfig(configPath);
    expect(loaded).toMatchObject({ stateDir: '/var/lib/tail2', rulesFile: '/etc/tail2/rules.yaml', web: { listen: { host: '127.0.0.1', port: 8383 } } });
    expect(loaded.web.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'etc/tail2/rules.yaml')).mode & 0o777).toBe(0o644);
    const rules = await runCli(['rules', 'check', join(root, 'etc/tail2/rules.yaml')]);
    expect(rules.code).toBe(0);
    // The CLI reads the token from there: as root it can, as anyone else it is told why not.
    const denied = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, cliPath, 'status', '--config', configPath], { encoding: 'utf8' });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain(`cannot read ${configPath}: it holds web.token, and only root may read it`);

    // The copy runs on its own: the daemon from it serves its pages.
    const d = await startDaemon('installed-copy', 'rules: []\n', '', { tail2d: join(copy, 'dist/daemon/cli/tail2d.js') });
    try {
      const page = await fetch(`${d.baseUrl}/rules`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      expect(d.child.pid).toBeDefined();
      expect(readFileSync(`/proc/${d.child.pid}/cmdline`, 'utf8')).toContain(join(copy, 'dist/daemon/cli/tail2d.js'));
    } finally {
      await d.stop();
    }
  });

  it('keeps an edited config and rules file when run again, and says when the kept config has no token', async () => {
    const configPath = join(root, 'etc/tail2/tail2.yaml');
    const token = tokenOf(configPath);
    writeFileSync(join(root, 'etc/tail2/rules.yaml'), 'rules: []\n');
    const again = await runCli(['install', '--root', root]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/kept .*rules\.yaml/);
    expect(again.stdout).not.toContain('sets no web.token');
    expect(readFileSync(join(root, 'etc/tail2/rules.yaml'), 'utf8')).toBe('rules: []\n');
    expect(tokenOf(configPath)).toBe(token);

    // An admin's config without a token: kept as it is, and the output says what that means.
    const mine = 'state_dir: /var/lib/tail2\nweb: { listen: "127.0.0.1:8383" }\n';
    writeFileSync(configPath, mine);
    const kept = await runCli(['install', '--root', root]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain(`note: ${configPath} sets no web.token: every local user can read the incidents`);
    expect(readFileSync(configPath, 'utf8')).toBe(mine);

    // Another host, another token.
    const other = join(scratch, 'other-root');
    mkdirSync(other);
    expect((await runCli(['install', '--root', other])).code).toBe(0);
    expect(tokenOf(join(other, 'etc/tail2/tail2.yaml'))).not.toBe(token);
  });

  it('installs from a checkout an unprivileged user owns: the service runs a root-owned copy the user cannot change', () => {
    // The user's checkout: a whole tail2 (the copy made above), owned by nobody, writable by nobody.
    const home = userFolder('home');
    const checkout = join(home, 'tail2');
    execFileSync('cp', ['-a', join(root, 'opt/tail2'), checkout]);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, checkout]);
    execFileSync('chmod', ['-R', 'u+w', checkout]);
    const target = join(scratch, 'user-root');
    mkdirSync(target);
    const result = spawnSync(process.execPath, [join(checkout, 'dist/daemon/cli/tail2.js'), 'install', '--root', target], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(readFileSync(join(target, 'etc/systemd/system/tail2.service'), 'utf8')).toContain(' /opt/tail2/dist/daemon/cli/tail2d.js ');
    expect(lstatSync(join(checkout, 'dist/daemon/cli/tail2d.js')).uid).toBe(NOBODY);
    expect(unsafeEntries(join(target, 'opt'))).toEqual([]);
    // The user changes their checkout: what the service runs does not change.
    const installed = join(target, 'opt/tail2/dist/daemon/cli/tail2d.js');
    const before = readFileSync(installed, 'utf8');
    const edit = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), '/bin/sh', '-c', `echo 'process.exit(99)' >> ${join(checkout, 'dist/daemon/cli/tail2d.js')}`], { encoding: 'utf8' });
    expect(edit.status).toBe(0);
    expect(readFileSync(join(checkout, 'dist/daemon/cli/tail2d.js'), 'utf8')).toContain('process.exit(99)');
    expect(readFileSync(installed, 'utf8')).toBe(before);
    // …and cannot change the copy either.
    const tamper = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), '/bin/sh', '-c', `echo x >> ${installed}`], { encoding: 'utf8' });
    expect(tamper.status).not.toBe(0);
    expect(tamper.stderr).toContain('Permission denied');
  });

  it('refuses a prefix in a folder others can change, a node binary others own, and a user who is not root', () => {
    // The copy would go under a folder nobody owns.
    const home = userFolder('refuse-home');
    const underHome = spawnSync(process.execPath, [cliPath, 'install', '--root', home], { encoding: 'utf8' });
    expect(underHome.status).toBe(1);
    expect(underHome.stderr).toContain(`tail2 install refuses: ${home}/opt/tail2 would sit in a folder someone other than root could change: ${home} (owned by uid ${NOBODY}, not root; mode 0755)`);
    expect(readdirSync(home)).toEqual([]);

    // A root-owned folder its group may write.
    const shared = join(scratch, 'group-writable');
    mkdirSync(shared);
    chmodSync(shared, 0o775);
    const groupWritable = spawnSync(process.execPath, [cliPath, 'install', '--root', shared], { encoding: 'utf8' });
    expect(groupWritable.status).toBe(1);
    expect(groupWritable.stderr).toContain(`${shared} (writable by its group; mode 0775)`);

    // A node binary in a user's folder, owned by that user: the unit would run it as root.
    const userNode = join(home, 'node');
    copyFileSync(process.execPath, userNode);
    chownSync(userNode, NOBODY, NOBODY);
    chmodSync(userNode, 0o755);
    const target = join(scratch, 'node-root');
    mkdirSync(target);
    const byUserNode = spawnSync(userNode, [cliPath, 'install', '--root', target], { encoding: 'utf8' });
    expect(byUserNode.status).toBe(1);
    expect(byUserNode.stderr).toContain(`the node binary the service would run, ${userNode}, could be changed by someone other than root: ${home} (owned by uid ${NOBODY}`);
    expect(byUserNode.stderr).toContain('/usr/local/bin/node');
    expect(readdirSync(target)).toEqual([]);

    // Not root at all.
    const asNobody = spawnSync(AS_NOBODY[0], [...AS_NOBODY.slice(1), process.execPath, cliPath, 'install', '--root', target], { encoding: 'utf8' });
    expect(asNobody.status).toBe(1);
    expect(asNobody.stderr).toContain('tail2 install must run as root');
  });

  it('runs node with the same flags under systemd and under npm start, the flags tests and benchmarks start tail2d with', () => {
    expect(daemonNodeFlags).toContain('--max-semi-space-size=4');
    const start = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(start).toContain(`node ${daemonNodeFlags.join(' ')} dist/daemon/cli/tail2d.js `);
    // And with the same allocator settings (the unit's Environment=MALLOC_…).
    expect(daemonAllocatorEnvironment).toContain('MALLOC_ARENA_MAX=2');
    expect(start).toContain(`${daemonAllocatorEnvironment.join(' ')} node `);
  });
});
