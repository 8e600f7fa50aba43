import { readFileSync } from 'node:fs';

/**
 * Tells whether a pid is a child of this process (tail2 record's tail2-reader processes): the
 * recorder's own work is noise in a profile of the host, and symbolizing it and loading its
 * unwind tables is more of that work. From /proc/PID/stat's ppid (the field after the state,
 * counted from the last ")" so a comm holding one cannot shift it), remembered per pid.
 */
export class OwnChildren {
  private readonly known = new Map<number, boolean>();

  has(pid: number): boolean {
    let own = this.known.get(pid);
    if (own === undefined) {
      own = parentOf(pid) === process.pid;
      this.known.set(pid, own);
    }
    return own;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined; // gone: it cannot be told apart any more, and it is kept
  }
}
