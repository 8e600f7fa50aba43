// Waiting on what a process has done, read from /proc, instead of sleeping for as long as it
// usually takes: a test on a loaded machine waits longer, one on an idle machine does not wait.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

/** Its thread name, or undefined once it is gone. */
function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return undefined;
  }
}

/** CPU seconds it has used (user and system), or 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command, which may hold spaces and parentheses: utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on every Linux architecture we run on.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Until `pid` has exec'd the program named `comm`. */
export async function untilExecd(pid: number, comm: string): Promise<void> {
  await expect.poll(() => commOf(pid), { timeout: 30_000, message: `pid ${pid} to exec ${comm}` }).toBe(comm);
}

/** Until `pid`, running `comm`, has used `seconds` of CPU: it ran long enough to be sampled that much. */
export async function untilRanFor(pid: number, comm: string, seconds: number): Promise<void> {
  await untilExecd(pid, comm);
  await expect.poll(() => cpuSecondsOf(pid), { timeout: 60_000, interval: 100, message: `pid ${pid} (${comm}) to use ${seconds} s of CPU` }).toBeGreaterThanOrEqual(seconds);
}
