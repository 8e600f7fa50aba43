import type { ProcessSnapshot } from '../symbols/proc-maps.js';

/**
 * The executable a process runs, as its mappings name it (the path its frames carry as
 * `module`), or undefined when none is known (the idle task, kernel threads, a process gone
 * before its snapshot). It is the file-backed executable mapping at the lowest address: the
 * kernel maps the program image below the mmap area where the dynamic loader and the libraries
 * go (0x55… for a PIE, 0x400000 for a fixed-address binary, libraries at 0x7f…), and
 * /proc/PID/maps lists mappings by address.
 */
export function mainBinaryOf(snapshot: ProcessSnapshot | undefined): string | undefined {
  return snapshot?.mappings.find((mapping) => mapping.path.startsWith('/'))?.path;
}

/**
 * What a pprof file of several processes names as its main binary: their executable when they
 * all run the same one (one process, or a server's workers), else undefined — the caller's
 * host-wide convention (see encodePprof). Processes whose executable is not known (kernel threads)
 * do not count either way.
 */
export function commonMainBinary(binaries: Iterable<string | undefined>): string | undefined {
  let common: string | undefined;
  for (const binary of binaries) {
    if (binary === undefined) continue;
    if (common !== undefined && binary !== common) return undefined;
    common = binary;
  }
  return common;
}
