import { readFileSync } from 'node:fs';
import { parseProcPidStat } from '../metrics/process-cpu-rss.js';
import { startTicksOf } from '../symbols/proc-maps.js';

/**
 * Whether `pid` still runs as the process that started at `startTimeNs` (boot clock): its
 * /proc/PID/stat exists and gives the same start time in clock ticks. The kernel writes that
 * file (the process controls only its name in it, which the parser steps over), so reading it
 * here cannot block.
 */
export function processAlive(pid: number, startTimeNs: bigint, procRoot = '/proc'): boolean {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  try {
    return parseProcPidStat(text).startTime === startTicksOf(Number(startTimeNs));
  } catch {
    return false;
  }
}
