// tail2-reader's symbolization (native/reader/elf-module.cc through daemon/symbols/process-files.ts)
// against binaries built here from test/fixtures/symbolize/: expected addresses come from
// nm/readelf and expected lines from MARK comments in the sources, so the reader's own file-offset
// -> address math is what is checked. Files are handed over as a process that shared our root and
// exited would have mapped them (test/helpers/host-file.ts).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessFiles, type NativeSymbolFrame } from '../../daemon/symbols/process-files.js';
import { hostFile } from '../helpers/host-file.js';

type SymbolFrame = NativeSymbolFrame;

const fixtures = fileURLToPath(new URL('../fixtures/symbolize/', import.meta.url));
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
function methodOffsets(bin: string, symbolsFrom = bin): number[] {
  const { vaddr, size } = symbol(symbolsFrom, METHOD);
  const offsets: number[] = [];
  for (let i = 0n; i < size; i++) offsets.push(Number(toFileOffset(bin, vaddr + i)));
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

const opened: ProcessFiles[] = [];
function files(options: ConstructorParameters<typeof ProcessFiles>[0] = {}): ProcessFiles {
  const created = new ProcessFiles({ debugDirectories: [], ...options });
  opened.push(created);
  return created;
}

function symbolize(reader: ProcessFiles, bin: string, offsets: number[], key?: string): Promise<SymbolFrame[][]> {
  const { process, mapping } = hostFile(bin, key);
  return reader.symbolize(process, mapping, offsets);
}

function moduleInfo(reader: ProcessFiles, bin: string, key?: string) {
  const { process, mapping } = hostFile(bin, key);
  return reader.moduleInfo(process, mapping);
}

async function expectInlinedMethod(reader: ProcessFiles, bin: string, symbolsFrom = bin): Promise<void> {
  const stacks = await symbolize(reader, bin, methodOffsets(bin, symbolsFrom));
  for (const stack of stacks) {
    // Every byte of the method resolves, and the real function is always the outermost frame.
    expect(stack.at(-1)).toMatchObject({ name: METHOD_NAME, inlined: false });
    for (const frame of stack) expect(frame.name).not.toMatch(/_Z|\+0x/);
  }
  expect(stacks).toContainEqual(expectedInlinedStack());
}

/** Descriptors the reader processes hold open on files under `dir`. */
function readerFdsUnder(reader: ProcessFiles, dir: string): string[] {
  const targets: string[] = [];
  for (const { pid } of reader.status().readers) {
    if (pid === null) continue;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(dir)) targets.push(target);
      } catch {
        // closed meanwhile
      }
    }
  }
  return targets.sort();
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

afterAll(() => {
  for (const reader of opened) reader.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('demangle', () => {
  it('demangles Rust legacy names without their hash, Rust v0, and C++ with parameters', async () => {
    const names = await files().demangle(['_ZN4core3fmt5write17h0123456789abcdefE', '_RNvCs1234_7mycrate3foo', METHOD, '_ZNSt6vectorIiSaIiEE9push_backERKi']);
    expect(names).toEqual(['core::fmt::write', 'mycrate::foo', METHOD_NAME, 'std::vector<int, std::allocator<int> >::push_back(int const&)']);
  });

  it('keeps names that are not mangled', async () => {
    expect(await files().demangle(['main', '_Znot_really'])).toEqual(['main', '_Znot_really']);
  });
});

describe('symbolization in tail2-reader', () => {
  it('reports inlined frames innermost first with file:line, under the demangled symbol', async () => {
    await expectInlinedMethod(files(), bins.full);
  });

  it.each(['nopie', 'based'] as const)('maps file offsets through PT_LOAD and the load bias (%s)', async (variant) => {
    const bin = bins[variant];
    const { vaddr } = symbol(bin, METHOD);
    // A symbolizer that took file offsets for addresses would land elsewhere.
    expect(toFileOffset(bin, vaddr)).not.toBe(vaddr);
    await expectInlinedMethod(files(), bin);
  });

  it('describes a binary with DWARF and a build ID', async () => {
    const info = await moduleInfo(files(), bins.full);
    expect(info).toEqual({ buildId: expect.stringMatching(/^[0-9a-f]{40}$/), hasSymbols: true, hasDwarf: true });
    expect(run('readelf', ['-n', bins.full])).toContain(info.buildId);
  });

  it('finds split debug info through .gnu_debuglink', async () => {
    expect(sectionNames(bins.debuglink)).not.toContain('.debug_info');
    const reader = files();
    await expectInlinedMethod(reader, bins.debuglink);
    const info = await moduleInfo(reader, bins.debuglink);
    expect(info).toMatchObject({ hasDwarf: true, hasSymbols: true, debugFile: `${bins.debuglink}.debug` });
  });

  it('finds debug info by build ID under a debug directory, names included', async () => {
    expect(sectionNames(bins.buildId)).not.toContain('.symtab');
    expect(sectionNames(bins.buildId)).not.toContain('.debug_info');
    const reader = files({ debugDirectories: [debugRoot] });
    await expectInlinedMethod(reader, bins.buildId, bins.full);
    const info = await moduleInfo(reader, bins.buildId);
    expect(info.hasDwarf).toBe(true);
    expect(info.debugFile?.startsWith(path.join(debugRoot, '.build-id'))).toBe(true);

    // Without that directory there is nothing to find.
    const blind = await moduleInfo(files(), bins.buildId);
    expect(blind.hasDwarf).toBe(false);
    expect(blind.debugFile).toBeUndefined();
  });

  it('names exported functions of a library stripped to .dynsym', async () => {
    expect(sectionNames(bins.shared)).not.toContain('.symtab');
    const { vaddr, size } = symbol(bins.shared, 'tail2_exported_add', true);
    const offsets = [toFileOffset(bins.shared, vaddr), toFileOffset(bins.shared, vaddr + size - 1n)].map(Number);
    const reader = files();
    expect(await symbolize(reader, bins.shared, offsets)).toEqual([[{ name: 'tail2_exported_add', inlined: false }], [{ name: 'tail2_exported_add', inlined: false }]]);
    expect(await moduleInfo(reader, bins.shared)).toMatchObject({ hasSymbols: true, hasDwarf: false });
  });

  it.each([
    ['a lazy .plt', 'gcc', []],
    ['an IBT .plt.sec', 'gcc', ['-fcf-protection=full', '-Wl,-z,ibtplt']],
    ['BIND_NOW', 'gcc', ['-Wl,-z,now']],
    ['C++, demangled', 'g++', []],
  ] as const)('names PLT stubs after their targets as objdump does (%s)', async (_layout, compiler, flags) => {
    const cxx = compiler === 'g++';
    const source = path.join(tmp, cxx ? 'plt-caller.cc' : 'plt-caller.c');
    // Calls through the PLT (and __cxa_finalize's stub in .plt.got, through a GLOB_DAT slot); in
    // C++, operator new's too, which must come out demangled.
    writeFileSync(
      source,
      '#include <stdio.h>\n#include <time.h>\nint main(int argc, char **argv) {\n  struct timespec ts;\n  clock_gettime(CLOCK_MONOTONIC, &ts);\n' +
        (cxx ? '  void *box = ::operator new(16 * argc);\n  printf("%p\\n", box);\n  ::operator delete(box);\n' : '') +
        '  int (*say)(const char *) = puts;\n  say(argv[0]);\n  puts("done");\n  return (int)(ts.tv_nsec & 1);\n}\n',
    );
    const bin = path.join(tmp, `plt-caller-${compiler}-${flags.length}`);
    run(compiler, ['-O2', ...flags, '-o', bin, source]);
    // objdump's synthetic `name@plt` symbols (demangled, -C), by address: the independent answer.
    const listing = run('objdump', ['-dC', '-j', '.plt', '-j', '.plt.sec', '-j', '.plt.got', bin]);
    const stubs = [...listing.matchAll(/^([0-9a-f]+) <(.+@plt)>:$/gm)].map((m) => ({ vaddr: BigInt(`0x${m[1]}`), name: m[2] }));
    expect(stubs.map((stub) => stub.name)).toEqual(expect.arrayContaining(['clock_gettime@plt', 'puts@plt', '__cxa_finalize@plt', ...(cxx ? ['operator new(unsigned long)@plt'] : [])]));
    const offsets = stubs.flatMap((stub) => [toFileOffset(bin, stub.vaddr), toFileOffset(bin, stub.vaddr + 5n)].map(Number));
    const frames = await symbolize(files(), bin, offsets);
    expect(frames).toEqual(stubs.flatMap((stub) => [[{ name: stub.name, inlined: false }], [{ name: stub.name, inlined: false }]]));
  });

  it('returns [] for offsets outside every segment', async () => {
    const size = statSync(bins.full).size;
    expect(await symbolize(files(), bins.full, [2 ** 53 - 1, size + 4096, 2 ** 40])).toEqual([[], [], []]);
    expect(await symbolize(files(), bins.full, [])).toEqual([]);
  });

  it('rejects a file that is gone with ENOENT and names the path', async () => {
    const gone = path.join(tmp, 'gone-binary');
    copyFileSync(bins.full, gone);
    const { process, mapping } = hostFile(gone);
    rmSync(gone);
    const error = await files().symbolize(process, mapping, [0]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'openat2' });
    expect((error as Error).message).toContain(gone);
    expect((error as Error).message).toContain('No such file or directory');
  });

  it('rejects a file that is not ELF with ENOTELF, and a directory with EISDIR', async () => {
    const reader = files();
    await expect(symbolize(reader, bins.text, [0])).rejects.toMatchObject({ code: 'ENOTELF' });
    await expect(moduleInfo(reader, tmp)).rejects.toMatchObject({ code: 'EISDIR' });
    expect(reader.status().problems.counts).toMatchObject({ ENOTELF: 1, EISDIR: 1 });
  });

  it('opens each file once and closes what it evicts, in the reader process', async () => {
    const cacheDir = path.dirname(bins.cacheA);
    const offsets = methodOffsets(bins.cacheA);
    const reader = files({ symbolReaders: 1 });
    await symbolize(reader, bins.cacheA, offsets);
    await symbolize(reader, bins.cacheA, offsets);
    await moduleInfo(reader, bins.cacheA);
    expect(readerFdsUnder(reader, cacheDir)).toEqual([bins.cacheA]); // opened once
    await symbolize(reader, bins.cacheB, offsets);
    expect(readerFdsUnder(reader, cacheDir)).toEqual([bins.cacheA, bins.cacheB]);
    reader.close();
    expect(reader.status().readers.every((r) => r.pid === null)).toBe(true);
  });

  it('answers concurrent requests for many files correctly', async () => {
    const reader = files();
    const offsets = methodOffsets(bins.cacheA);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => symbolize(reader, i % 3 === 0 ? bins.cacheB : bins.cacheA, offsets)));
    const expected = expectedInlinedStack();
    for (const stacks of results) expect(stacks).toContainEqual(expected);
  });
});
