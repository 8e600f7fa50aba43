import { statSync } from 'node:fs';
import { mappingCacheKey, snapshotBytes, type ExecutableMapping, type ProcessSnapshot } from '../../daemon/symbols/proc-maps.js';

/** glibc's gnu_dev_major / gnu_dev_minor on a st_dev number. */
export function deviceNumbers(dev: number): { major: number; minor: number } {
  const big = BigInt(dev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * A file on this host as if a process that shared the daemon's root had mapped it whole at
 * address 0 and exited since: what tail2-reader then opens from "/", checking device and inode.
 */
export function hostFile(path: string, cacheKey?: string): { process: ProcessSnapshot; mapping: ExecutableMapping } {
  const st = statSync(path);
  const { major, minor } = deviceNumbers(st.dev);
  const mapping: ExecutableMapping = {
    start: 0,
    end: 0,
    offset: 0,
    path,
    devMajor: major,
    devMinor: minor,
    inode: st.ino,
    cacheKey: cacheKey ?? mappingCacheKey(major, minor, st.ino, path),
  };
  const process: ProcessSnapshot = {
    pid: 0,
    startTicks: 0,
    cmdline: '',
    mappings: [mapping],
    namespacePid: 0,
    uid: 0,
    euid: 0,
    sharesRoot: true,
    bytes: snapshotBytes('', [mapping]),
  };
  return { process, mapping };
}
