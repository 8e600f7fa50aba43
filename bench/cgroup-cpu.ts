import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A cgroup of its own for one command, to measure the CPU of everything it starts: unlike GNU
 * time's rusage, which counts only children that were waited for, a cgroup also counts the
 * helper processes a command leaves to exit on their own (tail2-reader after tail2 record).
 * cgroup v2 (cpu.stat) where it is mounted, else v1's cpuacct controller.
 */
export class CgroupCpu {
  private readonly dir: string;
  private readonly v2: boolean;

  constructor(name: string) {
    this.v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    this.dir = join(this.v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/cpuacct', `${name}-${process.pid}-${Date.now()}`);
    mkdirSync(this.dir);
  }

  /** `argv` run from a shell that first joins the cgroup, then becomes the command (exec). */
  wrap(argv: string[]): string[] {
    return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.dir, ...argv];
  }

  /** CPU seconds used in the cgroup so far, user and system, by every process that was in it. */
  cpuSeconds(): number {
    if (this.v2) return Number(/^usage_usec (\d+)/m.exec(readFileSync(join(this.dir, 'cpu.stat'), 'utf8'))?.[1] ?? NaN) / 1e6;
    return Number(readFileSync(join(this.dir, 'cpuacct.usage'), 'utf8').trim()) / 1e9;
  }

  /** Processes still in the cgroup. */
  processes(): number[] {
    return readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean).map(Number);
  }

  /** Waits until every process has left (helpers exiting after the command), then reads the CPU and removes the cgroup. */
  async finish(): Promise<number> {
    for (let tries = 0; this.processes().length > 0 && tries < 200; tries++) await sleep(50);
    for (const pid of this.processes()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    while (this.processes().length > 0) await sleep(20);
    const seconds = this.cpuSeconds();
    if (!this.v2) writeFileSync(join(this.dir, 'notify_on_release'), '0');
    rmdirSync(this.dir);
    return seconds;
  }
}
