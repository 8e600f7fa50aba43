import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { parseFolded } from '../daemon/formats/folded.js';
import { recordCacheDir } from '../daemon/cli/record-cache-dir.js';
import { buildCFixture, cliPath, runCli, startCli, startFixture, testOutput } from './helpers/fixtures.js';

// What `tail2 record` does to cost its host less (issue 14), with the real CLI and real BPF.
const out = join(testOutput, 'record-cost');
const run = promisify(execFile);

function tableFiles(cacheHome: string): Map<string, number> {
  const dir = join(cacheHome, 'tail2', 'unwind-tables');
  return new Map(readdirSync(dir).map((name) => [name, statSync(join(dir, name)).mtimeMs]));
}

describe('tail2 record, what it keeps and loads', () => {
  let burner: string;

  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    burner = buildCFixture('burner');
  });

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('keeps the unwind tables it compiles in $XDG_CACHE_HOME/tail2 (mode 0700) and reads them back on the next run instead of compiling them again', async () => {
    const cacheHome = join(out, 'cache');
    const child = startFixture(burner, ['0']);
    try {
      const args = ['record', '--duration', '1s', '--pid', String(child.pid), '-o', join(out, 'first.folded')];
      const first = await runCli(args, { wrapper: ['env', `XDG_CACHE_HOME=${cacheHome}`] });
      expect(first.stderr).toContain('wrote');
      const built = tableFiles(cacheHome);
      // libc's table and the burner's own (gcc gives it a build ID): kept by build ID.
      expect(built.size).toBeGreaterThanOrEqual(2);
      expect(statSync(join(cacheHome, 'tail2', 'unwind-tables')).mode & 0o777).toBe(0o700);

      const second = await runCli(['record', '--duration', '1s', '--pid', String(child.pid), '-o', join(out, 'second.folded')], {
        wrapper: ['env', `XDG_CACHE_HOME=${cacheHome}`],
      });
      expect(second.stderr).toContain('wrote');
      const after = tableFiles(cacheHome);
      // Nothing new was built for the same process, and every table was read back (a read sets the file's mtime).
      expect([...after.keys()].sort()).toEqual([...built.keys()].sort());
      for (const [name, mtime] of built) expect(after.get(name)).toBeGreaterThan(mtime);
    } finally {
      child.kill('SIGKILL');
    }
    // Read back or compiled, the tables walk the burner's stacks to main.
    const folded = parseFolded(readFileSync(join(out, 'second.folded'), 'utf8'));
    const total = [...folded.values()].reduce((a, b) => a + b, 0);
    const full = [...folded].filter(([path]) => /main;outer;middle;leaf_spin$/.test(path)).reduce((a, [, n]) => a + n, 0);
    expect(total).toBeGreaterThan(0);
    expect(full / total).toBeGreaterThanOrEqual(0.9);
  });

  it('leaves its own tail2-reader processes out of a recording of the host', async () => {
    const output = join(out, 'host.pb.gz');
    // Something else on the host that is sure to be sampled: a quiet host may run nothing else.
    const busy = startFixture(burner, ['0']);
    try {
      const cli = startCli(['record', '--duration', '3s', '-o', output]);
      const readers = new Set<number>();
      // Its readers, seen while it records (they are its children).
      while (cli.child.exitCode === null && !cli.stderr().includes('wrote')) {
        for (const task of (() => {
          try {
            return readdirSync(`/proc/${cli.child.pid}/task`);
          } catch {
            return [];
          }
        })()) {
          try {
            for (const pid of readFileSync(`/proc/${cli.child.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) readers.add(Number(pid));
          } catch {
            // the task ended
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const result = await cli.done;
      expect(result.code, result.stderr).toBe(0);
      expect(readers.size).toBeGreaterThan(0);
      const profile = Profile.decode(gunzipSync(readFileSync(output)));
      const pidKey = profile.stringTable.strings.indexOf('pid');
      const pids = new Set(profile.sample.map((sample) => Number(sample.label.find((label) => Number(label.key) === pidKey)?.num)));
      expect(pids.has(busy.pid!)).toBe(true); // the host, not nothing
      for (const reader of readers) expect(pids.has(reader)).toBe(false);
      expect(pids.has(cli.child.pid!)).toBe(false);
    } finally {
      busy.kill('SIGKILL');
    }
  });

  it('takes the cache directory from XDG_CACHE_HOME when it is absolute, else ~/.cache', () => {
    expect(recordCacheDir({ XDG_CACHE_HOME: '/var/cache/someone' })).toBe('/var/cache/someone/tail2');
    expect(recordCacheDir({ XDG_CACHE_HOME: 'relative/dir', HOME: '/home/u' })).toMatch(/\/\.cache\/tail2$/);
    expect(recordCacheDir({})).toMatch(/\/\.cache\/tail2$/);
  });

  it('records under a CPU profiler (node --cpu-prof): the BPF load is not cut short by its SIGPROF every 100 µs', async () => {
    const child = startFixture(burner, ['0']);
    try {
      const output = join(out, 'profiled.folded');
      const result = await run(
        process.execPath,
        ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', join(out, 'cpu-prof'), cliPath, 'record', '--duration', '1s', '--pid', String(child.pid), '-o', output],
        { encoding: 'utf8' },
      );
      expect(result.stderr).toContain('wrote');
      expect(readdirSync(join(out, 'cpu-prof')).some((name) => name.endsWith('.cpuprofile'))).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
