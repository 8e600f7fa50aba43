import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { CgroupStats, findCgroup2Mount, parseCpuStatUsage, systemdUnit } from '../../daemon/metrics/cgroup-stats.js';
import type { MetricReading } from '../../daemon/model/metrics.js';
import { buildCFixture } from '../helpers/fixtures.js';


function forPath(readings: MetricReading[], path: string): Map<string, MetricReading> {
  const found = new Map<string, MetricReading>();
  for (const r of readings) if (r.instance.kind === 'cgroup' && r.instance.path === path) found.set(r.metric, r);
  return found;
}

describe('cgroup parsing', () => {
  it('finds the cgroup v2 mount on unified and hybrid hosts', () => {
    // Recorded from this machine (hybrid: v1 controllers, v2 at /sys/fs/cgroup/unified).
    const hybrid = 'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n';
    expect(findCgroup2Mount(hybrid)).toBe('/sys/fs/cgroup/unified');
    expect(findCgroup2Mount('cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n')).toBe('/sys/fs/cgroup');
    expect(findCgroup2Mount('cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n')).toBeUndefined();
  });

  it('reads usage_usec and names systemd units', () => {
    expect(parseCpuStatUsage('usage_usec 4294048000\nuser_usec 3705856000\nsystem_usec 588192000\n')).toBe(4294048000);
    expect(systemdUnit('nginx.service')).toBe('nginx.service');
    expect(systemdUnit('user@1000.service')).toBe('user@1000.service');
    expect(systemdUnit('session-3.scope')).toBe('session-3.scope');
    expect(systemdUnit('system.slice')).toBe('system.slice');
    expect(systemdUnit('docker-0a1b')).toBeUndefined();
    expect(systemdUnit('.service')).toBeUndefined();
  });

  it('says so when cgroup v2 is not mounted, and collects nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tail2-cgroup-'));
    try {
      writeFileSync(join(dir, 'mounts'), 'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n');
      const stats = new CgroupStats({ mountsFile: join(dir, 'mounts') });
      expect(stats.root).toBeUndefined();
      expect(stats.unavailableReason).toMatch(/cgroup v2 is not mounted .*mount -t cgroup2/);
      expect(stats.collect(Date.now())).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CgroupStats on this machine', () => {
  it('reads the root cgroup and a unit cgroup holding a burner (cpu ≈ 1 core; memory.current when v2 has the memory controller)', async () => {
    const stats = new CgroupStats();
    expect(stats.root, stats.unavailableReason).toBeDefined();
    const root = stats.root!;
    // A scope of our own, as systemd would create for a unit, with a burner pinned to one CPU in it.
    const name = `tail2-test-${process.pid}.scope`;
    const directory = `${root}/${name}`;
    mkdirSync(directory);
    // At nice -10, so the other work on this shared VM's CPU 0 cannot starve it below one core.
    const burner = spawn('nice', ['-n', '-10', 'taskset', '-c', '0', buildCFixture('burner'), '0'], { stdio: 'ignore' });
    try {
      writeFileSync(`${directory}/cgroup.procs`, String(burner.pid));
      const first = stats.collect(Date.now());
      expect(forPath(first, `/${name}`).has('cpu')).toBe(false); // needs two samples
      await sleep(1000);
      const readings = stats.collect(Date.now());

      const top = forPath(readings, '/');
      expect(top.get('cpu')!.value).toBeGreaterThan(0.6);
      const ours = forPath(readings, `/${name}`);
      expect(ours.get('cpu')!.instance).toEqual({ kind: 'cgroup', path: `/${name}`, unit: name });
      expect(ours.get('cpu')!.value).toBeGreaterThan(0.6);
      expect(ours.get('cpu')!.value).toBeLessThan(1.1);
      if (stats.memoryUnavailableReason === undefined) {
        expect(ours.get('rss')!.value).toBeGreaterThan(0);
      } else {
        // This VM: hybrid hierarchy, the memory controller belongs to cgroup v1.
        expect(stats.memoryUnavailableReason).toMatch(/memory controller is not in the cgroup v2 hierarchy/);
        expect(ours.has('rss')).toBe(false);
      }

      // Units systemd made on this host, if it runs systemd: each one read, memory.current > 0 when there.
      const units = readdirSync(root).filter((entry) => entry.endsWith('.slice') || entry.endsWith('.service'));
      for (const unit of units) {
        const found = forPath(readings, `/${unit}`);
        expect(found.get('cpu')?.instance).toMatchObject({ unit });
        if (stats.memoryUnavailableReason === undefined) expect(found.get('rss')!.value).toBeGreaterThan(0);
      }
    } finally {
      burner.kill('SIGKILL');
      await once(burner, 'exit');
      // The killed task leaves the cgroup asynchronously: EBUSY until it has.
      await vi.waitFor(() => rmdirSync(directory), { timeout: 5_000, interval: 50 });
    }
    const after = stats.collect(Date.now());
    expect(forPath(after, `/${name}`).size).toBe(0);
  });
});
