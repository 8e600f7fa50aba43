// Tests of the native Symbolizer (native/symbolizer.cc) against binaries built here from
// test/fixtures/symbolize/: expected addresses come from nm/readelf and expected lines from MARK
// comments in the sources, so the symbolizer's own file-offset -> address math is what is checked.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface SymbolFrame {
  name: string;
  file?: string;
  line?: number;
  inlined: boolean;
}
interface ModuleInfo {
  buildId?: string;
  hasSymbols: boolean;
  hasDwarf: boolean;
  debugFile?: string;
}
interface Symbolizer {
  symbolize(path: string, cacheKey: string, fileOffsets: BigUint64Array): Promise<SymbolFrame[][]>;
  moduleInfo(path: string, cacheKey: string): Promise<ModuleInfo>;
  clear(): void;
  readonly size: number;
}
interface NativeAddon {
  Symbolizer: new (options?: { maxModules?: number; debugDirectories?: string[] }) => Symbolizer;
  demangle(name: string): string;
}

const native = createRequire(import.meta.url)('../native/build/Release/tail2_native.node') as NativeAddon;

const fixtures = fileURLToPath(new URL('./fixtures/symbolize/', import.meta.url));
const inlinedSource = path.join(fixtures, 'inlined.cc');
const exportedSource = path.join(fixtures, 'exported.c');
const METHOD = '_ZN2ns5KlassIiE6methodEi';
const METHOD_NAME = 'ns::Klass<int>::method(int)';

let tmp: string;
// `cacheA`/`cacheB`: copies only the caching tests open, so their descriptor checks see no others.
const bins = { full: '', nopie: '', based: '', debuglink: '', buildId: '', shared: '', text: '', cacheA: '', cacheB: '' };
let debugRoot: string;

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8' });
}

/** Line of the `// MARK:<tag>` comment in a fixture source (1-based). */
function markLine(source: string, tag: string): number {
  const index = readFileSync(source, 'utf8').split('\n').findIndex((l) => l.includes(`// MARK:${tag}`));
  if (index < 0) throw new Error(`no MARK:${tag} in ${source}`);
  return index + 1;
}

/** A defined symbol's virtual address and size, from nm (-D: the dynamic table). */
function symbol(bin: string, name: string, dynamic = false): { vaddr: bigint; size: bigint } {
  const out = run('nm', ['-S', '--defined-only', ...(dynamic ? ['-D'] : []), bin]);
  for (const line of out.split('\n')) {
    const [addr, size, , sym] = line.trim().split(/\s+/);
    if (sym === name && addr && size) return { vaddr: BigInt(`0x${addr}`), size: BigInt(`0x${size}`) };
  }
  throw new Error(`${name} not found by nm in ${bin}`);
}

interface Segment {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}
const segmentCache = new Map<string, Segment[]>();

/** The PT_LOAD headers that `readelf -lW` prints. */
function loadSegments(bin: string): Segment[] {
  let segments = segmentCache.get(bin);
  if (!segments) {
    segments = [];
    for (const line of run('readelf', ['-lW', bin]).split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[0] !== 'LOAD') continue;
      const [offset, vaddr, , filesz] = f.slice(1, 5).map((x) => BigInt(x)) as [bigint, bigint, bigint, bigint];
      segments.push({ offset, vaddr, filesz });
    }
    segmentCache.set(bin, segments);
  }
  return segments;
}

/** vaddr -> file offset through the PT_LOAD headers. */
function toFileOffset(bin: string, vaddr: bigint): bigint {
  for (const s of loadSegments(bin)) {
    if (vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset;
  }
  throw new Error(`0x${vaddr.toString(16)} is in no PT_LOAD of ${bin}`);
}

function sectionNames(bin: string): string[] {
  return run('readelf', ['-SW', bin])
    .split('\n')
    .map((l) => /\]\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
}

/** File offsets of every byte of METHOD; `symbolsFrom`: an unstripped build with the same layout. */
function methodOffsets(bin: string, symbolsFrom = bin): BigUint64Array {
  const { vaddr, size } = symbol(symbolsFrom, METHOD);
  const offsets = new BigUint64Array(Number(size));
  for (let i = 0n; i < size; i++) offsets[Number(i)] = toFileOffset(bin, vaddr + i);
  return offsets;
}

/** The stack the fixture is built to produce: two inlined helpers inside the method. */
function expectedInlinedStack(): SymbolFrame[] {
  return [
    { name: 'ns::detail::mix', file: inlinedSource, line: markLine(inlinedSource, 'mix-body'), inlined: true },
    { name: 'ns::detail::twice_mixed', file: inlinedSource, line: markLine(inlinedSource, 'mix-call'), inlined: true },
    { name: METHOD_NAME, file: inlinedSource, line: markLine(inlinedSource, 'twice-call'), inlined: false },
  ];
}

async function expectInlinedMethod(symbolizer: Symbolizer, bin: string, key: string, symbolsFrom = bin): Promise<void> {
  const stacks = await symbolizer.symbolize(bin, key, methodOffsets(bin, symbolsFrom));
  for (const stack of stacks) {
    // Every byte of the method resolves, and the real function is always the outermost frame.
    expect(stack.at(-1)).toMatchObject({ name: METHOD_NAME, inlined: false });
    for (const frame of stack) expect(frame.name).not.toMatch(/_Z|\+0x/);
  }
  expect(stacks).toContainEqual(expectedInlinedStack());
}

/** This process's descriptors open on files under `dir`. */
function fdsUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(dir));
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'tail2-symbolize-'));
  const dir = (name: string): string => {
    mkdirSync(path.join(tmp, name));
    return path.join(tmp, name);
  };

  bins.full = path.join(dir('full'), 'inlined');
  run('g++', ['-O2', '-g', '-Wl,--build-id', '-o', bins.full, inlinedSource]);
  // ET_EXEC: loaded at its link address, file offsets far from vaddrs.
  bins.nopie = path.join(tmp, 'full', 'inlined-nopie');
  run('g++', ['-O2', '-g', '-no-pie', '-o', bins.nopie, inlinedSource]);
  // ET_DYN linked at a non-zero address, as prelink(8) leaves libraries: a negative load bias.
  bins.based = path.join(tmp, 'full', 'libinlined-based.so');
  run('g++', ['-O2', '-g', '-shared', '-fPIC', '-Wl,-Ttext-segment=0x20000000', '-o', bins.based, inlinedSource]);

  // Debug info split off next to the binary, found through .gnu_debuglink.
  bins.debuglink = path.join(dir('debuglink'), 'inlined');
  copyFileSync(bins.full, bins.debuglink);
  run('objcopy', ['--only-keep-debug', 'inlined', 'inlined.debug'], path.dirname(bins.debuglink));
  run('objcopy', ['--strip-debug', '--add-gnu-debuglink=inlined.debug', 'inlined'], path.dirname(bins.debuglink));

  // Fully stripped (no .symtab either); debug file only under <debugRoot>/.build-id/xx/yyyy.debug.
  bins.buildId = path.join(dir('buildid'), 'inlined');
  copyFileSync(bins.full, bins.buildId);
  debugRoot = dir('debugroot');
  const buildId = /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', bins.full]))?.[1];
  if (!buildId) throw new Error(`${bins.full} has no build ID`);
  mkdirSync(path.join(debugRoot, '.build-id', buildId.slice(0, 2)), { recursive: true });
  run('objcopy', ['--only-keep-debug', bins.full, path.join(debugRoot, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`)]);
  run('objcopy', ['--strip-all', bins.buildId]);

  // A shared library with .dynsym only.
  bins.shared = path.join(dir('shared'), 'libexported.so');
  run('gcc', ['-O2', '-g', '-shared', '-fPIC', '-Wl,--build-id', '-o', bins.shared, exportedSource]);
  run('strip', ['--strip-all', bins.shared]);

  bins.cacheA = path.join(dir('cache'), 'a');
  bins.cacheB = path.join(tmp, 'cache', 'b');
  copyFileSync(bins.full, bins.cacheA);
  copyFileSync(bins.full, bins.cacheB);

  bins.text = path.join(tmp, 'notes.txt');
  writeFileSync(bins.text, 'not an ELF file\n'.repeat(100));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('demangle', () => {
  it('demangles Rust legacy names without their hash', () => {
    expect(native.demangle('_ZN4core3fmt5write17h0123456789abcdefE')).toBe('core::fmt::write');
  });

  it('demangles Rust v0 names', () => {
    expect(native.demangle('_RNvCs1234_7mycrate3foo')).toBe('mycrate::foo');
  });

  it('demangles C++ names with their parameters', () => {
    expect(native.demangle(METHOD)).toBe(METHOD_NAME);
    expect(native.demangle('_ZNSt6vectorIiSaIiEE9push_backERKi')).toBe('std::vector<int, std::allocator<int> >::push_back(int const&)');
  });

  it('keeps names that are not mangled', () => {
    expect(native.demangle('main')).toBe('main');
    expect(native.demangle('_Znot_really')).toBe('_Znot_really');
  });
});

describe('Symbolizer', () => {
  it('reports inlined frames innermost first with file:line, under the demangled symbol', async () => {
    await expectInlinedMethod(new native.Symbolizer(), bins.full, 'full');
  });

  it.each(['nopie', 'based'] as const)('maps file offsets through PT_LOAD and the load bias (%s)', async (variant) => {
    const bin = bins[variant];
    const { vaddr } = symbol(bin, METHOD);
    // A symbolizer that took file offsets for addresses would land elsewhere.
    expect(toFileOffset(bin, vaddr)).not.toBe(vaddr);
    await expectInlinedMethod(new native.Symbolizer(), bin, variant);
  });

  it('describes a binary with DWARF and a build ID', async () => {
    const info = await new native.Symbolizer().moduleInfo(bins.full, 'full');
    expect(info).toEqual({ buildId: expect.stringMatching(/^[0-9a-f]{40}$/), hasSymbols: true, hasDwarf: true });
    expect(run('readelf', ['-n', bins.full])).toContain(info.buildId);
  });

  it('finds split debug info through .gnu_debuglink', async () => {
    expect(sectionNames(bins.debuglink)).not.toContain('.debug_info');
    const symbolizer = new native.Symbolizer();
    await expectInlinedMethod(symbolizer, bins.debuglink, 'debuglink');
    const info = await symbolizer.moduleInfo(bins.debuglink, 'debuglink');
    expect(info).toMatchObject({ hasDwarf: true, hasSymbols: true, debugFile: `${bins.debuglink}.debug` });
  });

  it('finds debug info by build ID under a debug directory, names included', async () => {
    expect(sectionNames(bins.buildId)).not.toContain('.symtab');
    expect(sectionNames(bins.buildId)).not.toContain('.debug_info');
    const symbolizer = new native.Symbolizer({ debugDirectories: [debugRoot] });
    await expectInlinedMethod(symbolizer, bins.buildId, 'buildid', bins.full);
    const info = await symbolizer.moduleInfo(bins.buildId, 'buildid');
    expect(info.hasDwarf).toBe(true);
    expect(info.debugFile?.startsWith(path.join(debugRoot, '.build-id'))).toBe(true);

    // Without that directory there is nothing to find.
    const blind = await new native.Symbolizer().moduleInfo(bins.buildId, 'buildid');
    expect(blind.hasDwarf).toBe(false);
    expect(blind.debugFile).toBeUndefined();
  });

  it('names exported functions of a library stripped to .dynsym', async () => {
    expect(sectionNames(bins.shared)).not.toContain('.symtab');
    const { vaddr, size } = symbol(bins.shared, 'tail2_exported_add', true);
    const offsets = BigUint64Array.of(toFileOffset(bins.shared, vaddr), toFileOffset(bins.shared, vaddr + size - 1n));
    const symbolizer = new native.Symbolizer();
    const stacks = await symbolizer.symbolize(bins.shared, 'shared', offsets);
    expect(stacks).toEqual([[{ name: 'tail2_exported_add', inlined: false }], [{ name: 'tail2_exported_add', inlined: false }]]);
    const info = await symbolizer.moduleInfo(bins.shared, 'shared');
    expect(info).toMatchObject({ hasSymbols: true, hasDwarf: false });
  });

  it('returns [] for offsets outside every segment', async () => {
    const size = BigInt(statSync(bins.full).size);
    const stacks = await new native.Symbolizer().symbolize(bins.full, 'full', BigUint64Array.of(2n ** 64n - 1n, size + 4096n, 1n << 40n));
    expect(stacks).toEqual([[], [], []]);
    expect(await new native.Symbolizer().symbolize(bins.full, 'full', new BigUint64Array(0))).toEqual([]);
  });

  it('rejects a missing file with ENOENT and names the path', async () => {
    const missing = path.join(tmp, 'no-such-binary');
    const error = await new native.Symbolizer().symbolize(missing, 'missing', BigUint64Array.of(0n)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: missing });
    expect((error as Error).message).toContain(missing);
    expect((error as Error).message).toContain('No such file or directory');
  });

  it('rejects a file that is not ELF with ENOTELF', async () => {
    const symbolizer = new native.Symbolizer();
    await expect(symbolizer.symbolize(bins.text, 'text', BigUint64Array.of(0n))).rejects.toMatchObject({ code: 'ENOTELF', path: bins.text });
    await expect(symbolizer.moduleInfo(tmp, 'dir')).rejects.toMatchObject({ code: 'EISDIR' });
    expect(symbolizer.size).toBe(0); // failures are not cached
  });

  it('throws TypeError/RangeError on bad arguments', () => {
    const symbolizer = new native.Symbolizer();
    const call = (...args: unknown[]) => (symbolizer.symbolize as (...a: unknown[]) => unknown)(...args);
    expect(() => call(bins.full, 'k', [1, 2])).toThrow(TypeError);
    expect(() => call(bins.full, 'k', new BigInt64Array(1))).toThrow(/BigUint64Array/);
    expect(() => call(42, 'k', new BigUint64Array(1))).toThrow(TypeError);
    expect(() => new native.Symbolizer({ maxModules: 0 })).toThrow(RangeError);
    expect(() => new native.Symbolizer({ debugDirectories: ['relative/dir'] })).toThrow(/absolute/);
  });

  it('opens each cache key once, keeps at most maxModules and closes files on clear()', async () => {
    const cacheDir = path.dirname(bins.cacheA);
    const offsets = methodOffsets(bins.cacheA);
    const symbolizer = new native.Symbolizer();
    await symbolizer.symbolize(bins.cacheA, 'a', offsets);
    await symbolizer.symbolize(bins.cacheA, 'a', offsets);
    await symbolizer.moduleInfo(bins.cacheA, 'a');
    expect(symbolizer.size).toBe(1);
    expect(fdsUnder(cacheDir)).toEqual([bins.cacheA]); // opened once
    symbolizer.clear();
    expect(symbolizer.size).toBe(0);
    expect(fdsUnder(cacheDir)).toEqual([]);

    const one = new native.Symbolizer({ maxModules: 1 });
    await one.symbolize(bins.cacheA, 'a', offsets);
    await one.symbolize(bins.cacheB, 'b', offsets);
    expect(one.size).toBe(1);
    expect(fdsUnder(cacheDir)).toEqual([bins.cacheB]); // evicting closed a
    one.clear();
    expect(fdsUnder(cacheDir)).toEqual([]);
  });

  it('stays correct with concurrent lookups while modules are evicted', async () => {
    const cacheDir = path.dirname(bins.cacheA);
    const symbolizer = new native.Symbolizer({ maxModules: 1 });
    const offsets = methodOffsets(bins.cacheA);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const bin = i % 3 === 0 ? bins.cacheB : bins.cacheA;
        return symbolizer.symbolize(bin, bin, offsets);
      }),
    );
    const expected = expectedInlinedStack();
    for (const stacks of results) expect(stacks).toContainEqual(expected);
    expect(symbolizer.size).toBe(1);
    symbolizer.clear();
    expect(fdsUnder(cacheDir)).toEqual([]);
  });
});
