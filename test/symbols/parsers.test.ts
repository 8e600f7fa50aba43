import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelSymbols } from '../../daemon/symbols/kallsyms.js';
import { findMapping, type ExecutableMapping } from '../../daemon/symbols/proc-maps.js';

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

describe('findMapping', () => {
  const mapping = (start: number, end: number, path: string): ExecutableMapping => ({ start, end, offset: 0, path, devMajor: 0xfd, devMinor: 1, inode: 1, cacheKey: path });
  const mappings = [mapping(0x55d0c0a01000, 0x55d0c0a05000, '/usr/bin/app'), mapping(0x7f1c2a000000, 0x7f1c2a1c5000, '/usr/lib/libc.so.6'), mapping(0x7ffd1b3f0000, 0x7ffd1b3f2000, '[vdso]')];

  it('finds the mapping holding an address by binary search, and none between mappings', () => {
    expect(findMapping(mappings, 0x7f1c2a000010)?.path).toBe('/usr/lib/libc.so.6');
    expect(findMapping(mappings, 0x55d0c0a01000)?.path).toBe('/usr/bin/app');
    expect(findMapping(mappings, 0x55d0c0a05000)).toBeUndefined();
    expect(findMapping(mappings, 0x55d0c0a00010)).toBeUndefined();
  });
});
