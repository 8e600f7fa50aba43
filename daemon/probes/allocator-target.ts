import { basename } from 'node:path';
import type { AllocationProgram } from '../sampler/native-addon.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';
import type { ProbePlan, ProbeTarget } from './user-probes.js';

/** The allocator's entry points, and the program (bpf/allocations.h) that reads each one's size. */
const FUNCTIONS: ReadonlyArray<readonly [string, AllocationProgram]> = [
  ['malloc', 'size_arg1'],
  ['free', 'free'],
  ['calloc', 'calloc'],
  ['realloc', 'realloc'],
  ['posix_memalign', 'posix_memalign'],
  ['aligned_alloc', 'size_arg2'],
  ['memalign', 'size_arg2'],
  ['valloc', 'size_arg1'],
  ['pvalloc', 'size_arg1'],
];
/**
 * Symbols that say the allocator is glibc's (in libc.so.6 or linked into a static binary), whose
 * realloc(NULL) and small-alignment memalign call malloc (bpf/allocations.h). jemalloc defines
 * `__libc_malloc` too, to stand in for glibc's; only glibc has `malloc_trim` besides.
 */
const GLIBC_MARKERS = ['__libc_malloc', 'malloc_trim'];
const FUNCTION_NAMES = [...FUNCTIONS.map(([name]) => name), ...GLIBC_MARKERS];
/** bpf/sampler.h TAIL2_ALLOC_COOKIE_GLIBC. */
const GLIBC_FLAG = 1;

/** Libraries that replace glibc's allocator when a program links or preloads them. */
const ALLOCATOR_LIBRARY = /^lib(jemalloc|tcmalloc|tcmalloc_minimal|mimalloc|hoard|tbbmalloc)[.-]/;
export const LIBC = /^libc(\.so|-)/;

/** The file offsets of the functions a mapped file defines (tail2-reader, process-files.ts). */
export type FunctionOffsets = (process: ProcessSnapshot, mapping: ExecutableMapping, names: readonly string[]) => Promise<Map<string, number>>;

/**
 * The allocation profile's target (docs/profiles.md#allocations): the allocator the process
 * really runs — its executable when it is static or links jemalloc and the like in, a preloaded
 * or linked allocator library, else its libc — and its entry points there.
 */
export class AllocatorTarget implements ProbeTarget {
  readonly profile = 'malloc';
  readonly calls = 'allocator calls';

  constructor(private readonly functionOffsets: FunctionOffsets) {}

  async plan(snapshot: ProcessSnapshot): Promise<ProbePlan> {
    const { mapping, offsets } = await this.findAllocator(snapshot);
    const byProgram: Partial<Record<AllocationProgram, number[]>> = {};
    const seen = new Set<number>();
    const mappedBytes = mapping.end - mapping.start;
    const functions: string[] = [];
    for (const [name, program] of FUNCTIONS) {
      const offset = offsets.get(name);
      // Aliases (memalign and aligned_alloc are one function in glibc) get one probe; only code
      // the process maps executable is probed.
      if (offset === undefined || seen.has(offset) || offset < mapping.offset || offset >= mapping.offset + mappedBytes) continue;
      seen.add(offset);
      (byProgram[program] ??= []).push(offset);
      functions.push(name);
    }
    if (!byProgram.size_arg1 || !byProgram.free) throw new Error(`malloc or free of ${mapping.path} is outside its executable mapping`);
    return { mapping, offsets: byProgram, flags: GLIBC_MARKERS.every((name) => offsets.has(name)) ? GLIBC_FLAG : 0, functions };
  }

  /**
   * The file holding the allocator `snapshot` runs, and its entry points' offsets: the first of
   * its executable, an allocator library, its libc that defines both malloc and free.
   */
  private async findAllocator(snapshot: ProcessSnapshot): Promise<{ mapping: ExecutableMapping; offsets: Map<string, number> }> {
    const all = distinctFiles(snapshot);
    const executable = all[0];
    const candidates = [
      ...(executable ? [executable] : []),
      ...all.filter((m) => m !== executable && ALLOCATOR_LIBRARY.test(basename(m.path))),
      ...all.filter((m) => m !== executable && LIBC.test(basename(m.path))),
    ];
    const problems: string[] = [];
    for (const mapping of candidates) {
      let offsets: Map<string, number>;
      try {
        offsets = await this.functionOffsets(snapshot, mapping, FUNCTION_NAMES);
      } catch (error) {
        problems.push(`${mapping.path}: ${(error as Error).message}`);
        continue;
      }
      if (offsets.has('malloc') && offsets.has('free')) return { mapping, offsets };
    }
    const tried = candidates.map((m) => m.path).join(', ') || 'no file-backed code';
    throw new Error(
      `no mapped file defines malloc and free (looked in ${tried}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}): a stripped static binary, or an allocator tail2 does not know`,
    );
  }
}

/** The process's file-backed executable mappings, one per file, its executable first. */
export function distinctFiles(snapshot: ProcessSnapshot): ExecutableMapping[] {
  const files = new Map<string, ExecutableMapping>();
  for (const mapping of snapshot.mappings) if (mapping.path.startsWith('/') && !files.has(mapping.cacheKey)) files.set(mapping.cacheKey, mapping);
  return [...files.values()];
}
