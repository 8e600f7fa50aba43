import { readFileSync, readlinkSync } from 'node:fs';

/** One executable mapping of a process, from /proc/PID/maps. User addresses fit in a double (< 2^53). */
export interface ExecutableMapping {
  start: number;
  end: number;
  /** File offset of `start`. */
  offset: number;
  /** Path as the process sees it; '' for anonymous memory (JIT code), `[vdso]` and the like for specials. */
  path: string;
  /** A path this process (tail2) can open: the same path, or through /proc/PID/root for another mount namespace. */
  openPath: string;
  /** Identifies the file version for symbol caches: device, inode and path. */
  cacheKey: string;
}

/** What is kept of a process from the moment it is first seen. */
export interface ProcessSnapshot {
  cmdline: string;
  mappings: ExecutableMapping[];
  /** The pid inside the process's own pid namespace (names its /tmp/perf-PID.map). */
  namespacePid: number;
  /** Where the process's root directory is reachable from here (`''` when it shares ours). */
  rootPrefix: string;
}

let ownMountNamespace: string | undefined;

function sameMountNamespace(pid: number): boolean {
  try {
    ownMountNamespace ??= readlinkSync('/proc/self/ns/mnt');
    return readlinkSync(`/proc/${pid}/ns/mnt`) === ownMountNamespace;
  } catch {
    return true;
  }
}

/** Parses the executable lines of a /proc/PID/maps text. */
export function parseExecutableMappings(text: string, rootPrefix: string): ExecutableMapping[] {
  const mappings: ExecutableMapping[] = [];
  for (const line of text.split('\n')) {
    // 7f1c2a000000-7f1c2a1c5000 r-xp 00026000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libc.so.6
    const match = /^([0-9a-f]+)-([0-9a-f]+) ..x. ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const path = match[6].replace(/ \(deleted\)$/, '');
    const isFile = match[5] !== '0' && path.startsWith('/');
    mappings.push({
      start: parseInt(match[1], 16),
      end: parseInt(match[2], 16),
      offset: parseInt(match[3], 16),
      path,
      openPath: isFile ? rootPrefix + path : '',
      cacheKey: isFile ? `${match[4]}:${match[5]}:${path}` : '',
    });
  }
  return mappings;
}

/** Reads what symbolization will need of a live process; undefined when it is already gone. */
export function snapshotProcess(pid: number): ProcessSnapshot | undefined {
  if (pid === 0) return undefined;
  try {
    const rootPrefix = sameMountNamespace(pid) ? '' : `/proc/${pid}/root`;
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    let cmdline = '';
    let namespacePid = pid;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      const nsPidLine = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (nsPidLine) namespacePid = Number(nsPidLine[1].trim().split(/\s+/).pop());
    } catch {
      // The process may exit between reads; its mappings are what matters most.
    }
    return { cmdline, mappings: parseExecutableMappings(maps, rootPrefix), namespacePid, rootPrefix };
  } catch {
    return undefined;
  }
}

/** The mapping holding `address`, by binary search (mappings from /proc are sorted by address). */
export function findMapping(mappings: readonly ExecutableMapping[], address: number): ExecutableMapping | undefined {
  let low = 0;
  let high = mappings.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const mapping = mappings[mid];
    if (address < mapping.start) high = mid - 1;
    else if (address >= mapping.end) low = mid + 1;
    else return mapping;
  }
  return undefined;
}
