import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../daemon/config/load-config.js';
import { repoRoot, runCli, testOutput } from './helpers/fixtures.js';

// `tail2 install` into a scratch root: the unit systemd would load, the config and the rules.

const root = mkdtempSync(join(testOutput, 'install-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('tail2 install', () => {
  it('writes a unit that systemd-analyze verifies, pointing at this checkout and this node', async () => {
    const result = await runCli(['install', '--root', root]);
    expect(result.code).toBe(0);
    const unitPath = join(root, 'etc/systemd/system/tail2.service');
    const unit = readFileSync(unitPath, 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} ${repoRoot}/dist/daemon/cli/tail2d.js --config /etc/tail2/tail2.yaml`);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=/m);
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    expect(verify.stderr.trim()).toBe('');
    expect(verify.status).toBe(0);
    // The exposure score systemd gives the hardening (0 best, 10 worst); README quotes it.
    const security = execFileSync('systemd-analyze', ['security', '--offline=yes', unitPath], { encoding: 'utf8' });
    const exposure = Number(/Overall exposure level for tail2\.service: ([0-9.]+)/.exec(security)?.[1]);
    expect(exposure).toBeLessThan(4);

    // The config it installs is one tail2 accepts, with its state under /var/lib/tail2.
    const config = readFileSync(join(root, 'etc/tail2/tail2.yaml'), 'utf8');
    expect(config).toMatch(/^state_dir: \/var\/lib\/tail2$/m);
    const loaded = await loadConfig(join(root, 'etc/tail2/tail2.yaml'));
    expect(loaded).toMatchObject({ stateDir: '/var/lib/tail2', rulesFile: '/etc/tail2/rules.yaml', web: { listen: { host: '127.0.0.1', port: 8383 } } });
    expect(statSync(join(root, 'etc/tail2/tail2.yaml')).mode & 0o777).toBe(0o600);
    const rules = await runCli(['rules', 'check', join(root, 'etc/tail2/rules.yaml')]);
    expect(rules.code).toBe(0);
  });

  it('keeps an edited config and rules file when run again', async () => {
    writeFileSync(join(root, 'etc/tail2/rules.yaml'), 'rules: []\n');
    const again = await runCli(['install', '--root', root]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/kept .*rules\.yaml/);
    expect(readFileSync(join(root, 'etc/tail2/rules.yaml'), 'utf8')).toBe('rules: []\n');
  });
});
