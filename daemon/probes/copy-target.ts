import { basename } from 'node:path';
import type { CopyProgram } from '../sampler/native-addon.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';
import { distinctFiles, LIBC } from './allocator-target.js';
import type { ProbePlan, ProbeTarget } from './user-probes.js';

/**
 * The copy functions probed. memcpy and memmove are one version in glibc (the same entry), and
 * mempcpy jumps into that version's body past its entry, so each is probed where it resolved to,
 * duplicates once. The `_chk` variants (-D_FORTIFY_SOURCE) fall through into the same entry
 * after their check: probing them too would count those copies twice.
 */
const COPY_FUNCTIONS = ['memcpy', 'memmove', 'mempcpy'] as const;
const PROGRAM: CopyProgram = 'size_arg3';

/** The code a process runs for functions of a mapped file (tail2-reader, process-files.ts). */
export type ResolvedFunctions = (
  process: ProcessSnapshot,
  mapping: ExecutableMapping,
  names: readonly string[],
) => Promise<{ offsets: Map<string, number>; ifuncs: Set<string> }>;

/**
 * The copy profile's target (docs/profiles.md#copies): the memcpy, memmove and mempcpy the
 * process really runs. In glibc each is an IFUNC whose resolver picked a version for the CPU when
 * the process started (`__memmove_avx_unaligned_erms` and friends); the reader reads the choice
 * from the process's GOT, and the probes go on that version's entry. Its libc first, else its
 * executable (a static binary, or one with its own memcpy).
 */
export class CopyTarget implements ProbeTarget {
  readonly profile = 'memcpy';
  readonly calls = 'copies';

  constructor(private readonly resolvedFunctions: ResolvedFunctions) {}

  async plan(snapshot: ProcessSnapshot): Promise<ProbePlan> {
    const all = distinctFiles(snapshot);
    const executable = all[0];
    const candidates = [...all.filter((m) => m !== executable && LIBC.test(basename(m.path))), ...(executable ? [executable] : [])];
    const problems: string[] = [];
    for (const mapping of candidates) {
      let resolved: { offsets: Map<string, number>; ifuncs: Set<string> };
      try {
        resolved = await this.resolvedFunctions(snapshot, mapping, COPY_FUNCTIONS);
      } catch (error) {
        problems.push(`${mapping.path}: ${(error as Error).message}`);
        continue;
      }
      const offsets: number[] = [];
      const functions: string[] = [];
      const mappedBytes = mapping.end - mapping.start;
      for (const name of COPY_FUNCTIONS) {
        const offset = resolved.offsets.get(name);
        if (offset === undefined || offset < mapping.offset || offset >= mapping.offset + mappedBytes) continue;
        // memcpy and memmove resolved to one version are one probe.
        if (!offsets.includes(offset)) offsets.push(offset);
        functions.push(name);
      }
      if (functions.includes('memcpy')) return { mapping, offsets: { [PROGRAM]: offsets }, flags: 0, functions };
    }
    const tried = candidates.map((m) => m.path).join(', ') || 'no file-backed code';
    throw new Error(
      `no mapped file defines memcpy (looked in ${tried}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}): a stripped static binary, or a libc whose memcpy tail2 cannot resolve`,
    );
  }
}
