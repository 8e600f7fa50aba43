import { stringBytes } from '../model/string-bytes.js';

/** One executable mapping of a process, from /proc/PID/maps. User addresses fit in a double (< 2^53). */
export interface ExecutableMapping {
  start: number;
  end: number;
  /** File offset of `start`. */
  offset: number;
  /** Path as the process sees it; '' for anonymous memory (JIT code), `[vdso]` and the like for specials. */
  path: string;
  /** The mapped file's device and inode: the file opened later must be this one. 0 for anonymous memory. */
  devMajor: number;
  devMinor: number;
  inode: number;
  /** Identifies the file version for symbol caches: device, inode and path; '' for anonymous memory. */
  cacheKey: string;
}

/**
 * What is kept of a process from the moment it is first seen (read by tail2-reader, see
 * process-files.ts): enough to symbolize it after it exited, and to open its files again safely.
 */
export interface ProcessSnapshot {
  /** The pid as the daemon sees it. */
  pid: number;
  /** Start time in clock ticks since boot (/proc/PID/stat field 22): with the pid, one process. */
  startTicks: number;
  /** The command line, redacted, at most `symbols.max_cmdline_bytes` long. */
  cmdline: string;
  mappings: ExecutableMapping[];
  /** The pid inside the process's own pid namespace (names its /tmp/perf-PID.map). */
  namespacePid: number;
  /** Real and effective user ids: a perf map must belong to one of them. -1 when unknown. */
  uid: number;
  euid: number;
  /** Its root was the daemon's own: its files can still be opened from "/" after it exits. */
  sharesRoot: boolean;
  /** Bytes this snapshot holds (strings and arrays), counted against buffer.max_memory. */
  bytes: number;
}

/** A (pid, start time) identity in the form tail2-reader checks: start time in clock ticks. */
export function startTicksOf(startTimeNs: number): number {
  // The kernel's nsec_to_clock_t: USER_HZ is 100 on every Linux architecture tail2 runs on.
  return Math.floor(startTimeNs / 1e7);
}

/** A stable key for one version of a mapped file. */
export function mappingCacheKey(devMajor: number, devMinor: number, inode: number, path: string): string {
  return `${devMajor.toString(16).padStart(2, '0')}:${devMinor.toString(16).padStart(2, '0')}:${inode}:${path}`;
}

/** Rough bytes of one mapping object beyond its path (fields, object header, array slot). */
const MAPPING_OVERHEAD_BYTES = 96;
const SNAPSHOT_OVERHEAD_BYTES = 160;


/** What a snapshot costs in memory: its strings and objects. */
export function snapshotBytes(cmdline: string, mappings: readonly ExecutableMapping[]): number {
  let bytes = SNAPSHOT_OVERHEAD_BYTES + stringBytes(cmdline);
  for (const mapping of mappings) bytes += MAPPING_OVERHEAD_BYTES + stringBytes(mapping.path) + stringBytes(mapping.cacheKey);
  return bytes;
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
