import { readFileSync } from 'node:fs';
import { parseProcPidStat } from '../metrics/process-cpu-rss.js';
import { startTicksOf } from '../symbols/proc-maps.js';

/** include/linux/sched.h: the task is getting shut down. */
const PF_EXITING = 0x4;

/**
 * Whether `pid` still runs as the process that started at `startTimeNs` (boot clock): its
 * /proc/PID/stat exists, gives the same start time in clock ticks, and the process is not a
 * zombie (it has exited; only its parent has not reaped it yet, and its exit event is past). The
 * kernel writes that file (the process controls only its name in it, which the parser steps
 * over), so reading it here cannot block.
 */
export function processAlive(pid: number, startTimeNs: bigint, procRoot = '/proc'): boolean {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // After the name's closing parenthesis (the last one in the line): field 3 the state, field 9
  // the flags, where PF_EXITING says its exit has begun (the exit event may already be past).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X' || state === 'x') return false;
  if ((Number(fields[6]) & PF_EXITING) !== 0) return false;
  try {
    return parseProcPidStat(text).startTime === startTicksOf(Number(startTimeNs));
  } catch {
    return false;
  }
}
