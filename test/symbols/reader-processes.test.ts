// What tail2-reader reads of real processes: their /proc snapshot, their perf maps and their
// mapped files, when those processes are hostile — a FIFO or a symlink for a perf map, another
// user's file, a sparse 8 GiB file, a binary replaced by a symlink to /etc/shadow, a root
// directory of its own with absolute symlinks in it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { redactCommandLine } from '../../daemon/redact/redact-command-line.js';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import type { ProcessSnapshot } from '../../daemon/symbols/proc-maps.js';
import { buildCFixture } from '../helpers/fixtures.js';

const NOBODY = 65534;
let tmp: string;
const children: ChildProcess[] = [];
const perfMaps: string[] = [];
const reader = new ProcessFiles({ debugDirectories: [] });

function start(command: string, args: string[], options: { asNobody?: boolean } = {}): ChildProcess {
  const argv = options.asNobody ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', command, ...args] : [command, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** Polls until the process runs `binary` (setpriv and chroot exec it), then snapshots it. */
async function snapshotOf(child: ChildProcess, binary: string): Promise<ProcessSnapshot> {
  return vi.waitFor(
    async () => {
      const snapshot = await reader.snapshot(child.pid!);
      if (!snapshot?.mappings.some((m) => m.path.endsWith(path.basename(binary)))) throw new Error(`process ${child.pid} does not run ${binary} yet`);
      return snapshot;
    },
    { timeout: 10_000, interval: 25 },
  );
}

function perfMapPath(pid: number, root = ''): string {
  const file = path.join(root || '/', 'tmp', `perf-${pid}.map`);
  perfMaps.push(file);
  return file;
}

let sleeper: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-reader-proc-'));
  chmodSync(tmp, 0o755);
  sleeper = buildCFixture('sleeper');
});

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const file of perfMaps.splice(0)) rmSync(file, { force: true });
});

afterAll(() => {
  reader.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('process snapshots', () => {
  it('reads a live process, and nothing for one that is gone or whose pid was reused', async () => {
    const snapshot = await reader.snapshot(process.pid);
    expect(snapshot?.cmdline).toContain('node');
    expect(snapshot?.mappings.some((m) => m.path === process.execPath || m.path.endsWith('/node'))).toBe(true);
    expect(snapshot?.bytes).toBeGreaterThan(1000);
    expect(await reader.snapshot(0x3fffff)).toBeUndefined();
    // The same pid with another start time is another process.
    expect(await reader.snapshot(process.pid, 12345 * 1e7)).toBeUndefined();
  });

  it('reads a process once for two asks at the same time (symbols and unwind tables), and again after', async () => {
    const requests = () => reader.status().readers[0].requests;
    const before = requests();
    const [first, second] = await Promise.all([reader.snapshot(process.pid), reader.snapshot(process.pid)]);
    expect(first).toBeDefined();
    expect(second).toBe(first);
    expect(requests() - before).toBe(1);
    // Settled: the next ask reads the process again (its mappings may have changed).
    const third = await reader.snapshot(process.pid);
    expect(third).not.toBe(first);
    expect(requests() - before).toBe(2);
  });

  it("keeps a deleted binary's path without ' (deleted)', and anonymous JIT memory and [vdso] as such", async () => {
    const binary = path.join(tmp, 'deleted-binary');
    copyFileSync(sleeper, binary);
    chmodSync(binary, 0o755);
    const child = start(binary, ['30']);
    await snapshotOf(child, binary);
    rmSync(binary);
    const snapshot = (await reader.snapshot(child.pid!))!;
    const mapped = snapshot.mappings.find((m) => m.path === binary);
    expect(mapped).toMatchObject({ path: binary, cacheKey: expect.stringContaining(`:${binary}`) });
    expect(mapped!.inode).toBeGreaterThan(0);
    const own = (await reader.snapshot(process.pid))!;
    expect(own.mappings.some((m) => m.path === '[vdso]' && m.cacheKey === '')).toBe(true);
    // V8's code space: executable memory no file backs, named by perf maps instead.
    expect(own.mappings.some((m) => m.path === '' && m.inode === 0 && m.cacheKey === '')).toBe(true);
  });

  it('keeps at most 4 KiB of a command line of megabytes, redacted as asked', async () => {
    const huge = Array.from({ length: 12 }, () => 'x'.repeat(120_000));
    const child = start(sleeper, ['30', '--password=hunter2', ...huge]);
    const redacting = new ProcessFiles({ debugDirectories: [], redactCmdline: (raw) => redactCommandLine(raw) });
    try {
      const snapshot = (await snapshotOf(child, sleeper)) && (await redacting.snapshot(child.pid!));
      expect(snapshot?.cmdline.length).toBeLessThanOrEqual(4096);
      expect(snapshot?.cmdline).not.toContain('\0');
      expect(await redacting.cmdline(child.pid!, snapshot!.startTicks)).toBe(snapshot?.cmdline);
      expect(snapshot?.cmdline).toContain('--password=<redacted>');
      expect(snapshot?.cmdline).not.toContain('hunter2');
      expect(snapshot?.bytes).toBeLessThan(8192);
    } finally {
      redacting.close();
    }
  });
});

describe('perf maps', () => {
  it("names JIT code from the process's own map, the newest line winning", async () => {
    const child = start(sleeper, ['30']);
    const snapshot = await snapshotOf(child, sleeper);
    writeFileSync(perfMapPath(child.pid!), ['3f2a1c000 40 LazyCompile:*first file.js:1', '3f2a1c100 80 JS:*hot file.js:7', '3f2a1c100 20 JS:*reused file.js:9', 'garbage line'].join('\n'));
    expect(await reader.perfMapNames(snapshot, [0x3f2a1c010, 0x3f2a1c110, 0x3f2a1c150, 0x3f2a1c040])).toEqual([
      'LazyCompile:*first file.js:1',
      'JS:*reused file.js:9',
      'JS:*hot file.js:7',
      undefined,
    ]);
  });

  it('refuses a FIFO without blocking, and a symlink to /etc/shadow without reading it', async () => {
    const child = start(sleeper, ['30']);
    const snapshot = await snapshotOf(child, sleeper);
    const map = perfMapPath(child.pid!);
    execFileSync('mkfifo', [map]);
    expect(await reader.perfMapNames(snapshot, [0x1000])).toEqual([undefined]);
    rmSync(map);
    symlinkSync('/etc/shadow', map);
    expect(await reader.perfMapNames(snapshot, [0x1000])).toEqual([undefined]);
    const problems = reader.status().problems.recent.filter((p) => p.file.includes(`perf-${child.pid}.map`));
    expect(problems.map((p) => p.code)).toContain('ELOOP');
    expect(reader.status().problems.counts.ENOTREG).toBeGreaterThanOrEqual(1);
    for (const p of reader.status().problems.recent) expect(p.message).not.toMatch(/root:[^ ]*:\d/); // no line of shadow
  });

  it("refuses a map another user owns, and reads a map the process's user wrote", async () => {
    const child = start(sleeper, ['30'], { asNobody: true });
    const snapshot = await snapshotOf(child, sleeper);
    expect(snapshot.euid).toBe(NOBODY);
    const map = perfMapPath(child.pid!);
    writeFileSync(map, '1000 100 planted_by_root\n');
    expect(await reader.perfMapNames(snapshot, [0x1010])).toEqual([undefined]);
    expect(reader.status().problems.recent[0]).toMatchObject({ code: 'ENOTOWNER' });
    chownSync(map, NOBODY, NOBODY);
    expect(await reader.perfMapNames(snapshot, [0x1010])).toEqual(['planted_by_root']);
  });

  it('refuses a sparse 8 GiB map at once, and reads only the newest part of a map over the cap', async () => {
    const child = start(sleeper, ['30']);
    const snapshot = await snapshotOf(child, sleeper);
    const map = perfMapPath(child.pid!);
    writeFileSync(map, '1000 10 hole\n');
    truncateSync(map, 8 * 1024 ** 3);
    expect(await reader.perfMapNames(snapshot, [0x1004])).toEqual([undefined]);
    expect(reader.status().problems.recent[0]).toMatchObject({ code: 'ETOOBIG' });

    const capped = new ProcessFiles({ debugDirectories: [], maxPerfMapBytes: 64 * 1024 });
    try {
      const lines = ['1000 10 oldest'];
      for (let i = 0; i < 20_000; i++) lines.push(`${(0x100000 + i * 0x10).toString(16)} 10 filler_${i}`);
      lines.push('2000 10 newest', `3000 10 ${'y'.repeat(40_000)}`, '4000 10 after_long_line');
      writeFileSync(map, lines.join('\n'));
      expect(await capped.perfMapNames(snapshot, [0x1004, 0x2004, 0x3004, 0x4004])).toEqual([undefined, 'newest', undefined, 'after_long_line']);
      expect(capped.status().problems.recent[0]).toMatchObject({ code: 'ETRUNCATED' });
    } finally {
      capped.close();
    }
  });

  it("reads the map inside a chrooted process's root, not the host's /tmp", async () => {
    const root = path.join(tmp, 'jail');
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    mkdirSync(path.join(root, 'tmp'), { recursive: true });
    const staticSleeper = buildCFixture('sleeper', ['-static'], 'sleeper-static');
    copyFileSync(staticSleeper, path.join(root, 'bin', 'sleeper'));
    chmodSync(path.join(root, 'bin', 'sleeper'), 0o755);
    const child = start('chroot', [root, '/bin/sleeper', '30']);
    const snapshot = await snapshotOf(child, 'sleeper');
    expect(snapshot.sharesRoot).toBe(false);
    writeFileSync(perfMapPath(child.pid!), '1000 10 host_tmp_map\n');
    // Inside the jail, an absolute symlink to the host's file resolves inside the jail: to nothing.
    symlinkSync(`/tmp/perf-${child.pid}.map`, path.join(root, 'tmp', 'link-to-host'));
    writeFileSync(perfMapPath(child.pid!, root), '1000 10 jail_tmp_map\n');
    expect(await reader.perfMapNames(snapshot, [0x1004])).toEqual(['jail_tmp_map']);
  });
});

describe('mapped files', () => {
  it('opens the binary a process mapped, and refuses what its path leads to once it was replaced', async () => {
    const binary = path.join(tmp, 'replaced-binary');
    copyFileSync(sleeper, binary);
    chmodSync(binary, 0o755);
    const child = start(binary, ['30']);
    const snapshot = await snapshotOf(child, binary);
    const mapping = snapshot.mappings.find((m) => m.path === binary)!;
    const main = mapping.offset; // any offset of the mapping: the file opened is what is checked
    expect(await reader.symbolize(snapshot, mapping, [main])).toHaveLength(1);

    // The process exits; its binary's path now leads to /etc/shadow.
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    renameSync(binary, `${binary}.old`);
    symlinkSync('/etc/shadow', binary);
    const fresh = new ProcessFiles({ debugDirectories: [] }); // nothing cached
    try {
      await expect(fresh.symbolize(snapshot, mapping, [main])).rejects.toMatchObject({ code: 'EMISMATCH' });
    } finally {
      fresh.close();
    }
  });
});
