import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelSymbols } from '../../daemon/symbols/kallsyms.js';
import { PerfMap } from '../../daemon/symbols/perf-map.js';
import { findMapping, parseExecutableMappings, snapshotProcess } from '../../daemon/symbols/proc-maps.js';

const dir = mkdtempSync(join(tmpdir(), 'tail2-symbols-'));

describe('kallsyms', () => {
  it('resolves an address to the text symbol that contains it, with its module', () => {
    const path = join(dir, 'kallsyms');
    writeFileSync(
      path,
      [
        'ffffffff81000000 T _stext',
        'ffffffff81000100 t do_syscall_64',
        'ffffffff81000200 D some_data',
        'ffffffff81000300 T vfs_write',
        'ffffffffc0a01000 t nf_hook_slow\t[nf_tables]',
        '0000000000000000 A fixed_percpu_data',
      ].join('\n'),
    );
    const symbols = KernelSymbols.load(path);
    expect(symbols.resolve(0xffffffff81000150n)).toEqual({ name: 'do_syscall_64', module: '[kernel.kallsyms]' });
    // Data symbols are not functions: an address after some_data still belongs to do_syscall_64.
    expect(symbols.resolve(0xffffffff81000250n)?.name).toBe('do_syscall_64');
    expect(symbols.resolve(0xffffffffc0a01010n)).toEqual({ name: 'nf_hook_slow', module: '[nf_tables]' });
    expect(symbols.resolve(0xffffffff80000000n)).toBeUndefined();
  });

  it('reads this kernel', () => {
    const symbols = KernelSymbols.load();
    expect(symbols.available).toBe(true);
  });
});

describe('perf map', () => {
  it('resolves JIT code ranges and prefers the newest entry for reused memory', () => {
    const path = join(dir, 'perf-1.map');
    writeFileSync(path, ['3f2a1c000 40 LazyCompile:*first file.js:1', '3f2a1c100 80 JS:*hot file.js:7', '3f2a1c100 20 JS:*reused file.js:9', 'garbage line'].join('\n'));
    const map = PerfMap.read(path)!;
    expect(map.resolve(0x3f2a1c010)).toBe('LazyCompile:*first file.js:1');
    expect(map.resolve(0x3f2a1c110)).toBe('JS:*reused file.js:9');
    expect(map.resolve(0x3f2a1c150)).toBe('JS:*hot file.js:7');
    expect(map.resolve(0x3f2a1c040)).toBeUndefined();
    expect(PerfMap.read(join(dir, 'missing.map'))).toBeUndefined();
  });
});

describe('/proc/PID/maps', () => {
  const text = [
    '55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234 /usr/bin/app',
    '55d0c0a01000-55d0c0a05000 r-xp 00001000 fd:01 1234 /usr/bin/app',
    '7f0000000000-7f0000100000 rwxp 00000000 00:00 0 ',
    '7f1c2a000000-7f1c2a1c5000 r-xp 00026000 fd:01 1837 /usr/lib/libc.so.6 (deleted)',
    '7ffd1b3f0000-7ffd1b3f2000 r-xp 00000000 00:00 0 [vdso]',
  ].join('\n');

  it('keeps executable mappings with their file offset and a cache key per file version', () => {
    const mappings = parseExecutableMappings(text, '');
    expect(mappings.map((m) => m.path)).toEqual(['/usr/bin/app', '', '/usr/lib/libc.so.6', '[vdso]']);
    expect(mappings[0]).toMatchObject({ start: 0x55d0c0a01000, offset: 0x1000, openPath: '/usr/bin/app', cacheKey: 'fd:01:1234:/usr/bin/app' });
    expect(mappings[1].openPath).toBe(''); // anonymous: JIT code, resolved through perf maps
    expect(findMapping(mappings, 0x7f1c2a000010)?.path).toBe('/usr/lib/libc.so.6');
    expect(findMapping(mappings, 0x55d0c0a00010)).toBeUndefined();
  });

  it('opens files of another mount namespace through /proc/PID/root', () => {
    expect(parseExecutableMappings(text, '/proc/42/root')[0].openPath).toBe('/proc/42/root/usr/bin/app');
  });

  it('snapshots a live process, and nothing for one that is gone', () => {
    const snapshot = snapshotProcess(process.pid)!;
    expect(snapshot.cmdline).toContain('node');
    expect(snapshot.mappings.some((m) => m.path === process.execPath || m.path.endsWith('/node'))).toBe(true);
    expect(snapshotProcess(0x3fffff)).toBeUndefined();
  });
});
