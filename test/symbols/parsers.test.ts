import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

  it('sorts lines out of address order (modules), and tells addresses apart that differ only in the high half', () => {
    const path = join(dir, 'kallsyms-unsorted');
    writeFileSync(
      path,
      [
        'ffffffffc0b00000 t mod_b_fn\t[mod_b]',
        'ffffffff81000000 T _stext',
        'ffffffffc0a00000 W mod_a_fn\t[mod_a]',
        'fffffffe81000000 T lower_half_twin',
        'ffffffff81000100 w weak_fn',
        'ffffffff81000200 r not_text',
        'garbage line',
        '',
      ].join('\n'),
    );
    const symbols = KernelSymbols.load(path);
    expect(symbols.resolve(0xffffffffc0a00004n)).toEqual({ name: 'mod_a_fn', module: '[mod_a]' });
    expect(symbols.resolve(0xffffffffc0b00004n)).toEqual({ name: 'mod_b_fn', module: '[mod_b]' });
    expect(symbols.resolve(0xffffffff81000280n)?.name).toBe('weak_fn');
    expect(symbols.resolve(0xffffffff80000000n)?.name).toBe('lower_half_twin');
    expect(symbols.resolve(0xfffffffe80ffffffn)).toBeUndefined();
  });

  it('reads this kernel, and names a function of it as the file does', () => {
    const symbols = KernelSymbols.load();
    expect(symbols.available).toBe(true);
    const line = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((l) => / T (vfs_read|ksys_read)$/.test(l))!;
    const [address, , name] = line.split(' ');
    expect(symbols.resolve(BigInt(`0x${address}`) + 1n)?.name).toBe(name);
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
