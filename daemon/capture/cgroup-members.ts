import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { findCgroup2Mount } from '../metrics/cgroup-stats.js';

export interface CgroupMembersOptions {
  /** The cgroup v2 mount. @defaultValue found in `mountsFile` */
  root?: string;
  /** @defaultValue '/proc/self/mounts' */
  mountsFile?: string;
  /**
   * Cgroups read at most, breadth-first from the scope's own: a delegated subtree can hold any
   * number, and an incident must not wait on walking them all. @defaultValue 4096
   */
  maxCgroups?: number;
}

const DEFAULT_MAX_CGROUPS = 4096;

/**
 * The pids of the processes in a cgroup v2 directory and every cgroup below it (what the cgroup's
 * `cpu.stat` and `memory.current` count, and so what a cgroup or unit rule watched), as this
 * daemon's pid namespace numbers them. `path` is the instance's path below the mount
 * (`/system.slice/nginx.service`). A cgroup removed meanwhile, or no cgroup v2 at all, gives
 * fewer pids, never an error: the incident then falls back to the host-wide picture.
 *
 * Samples do not carry their cgroup through the buffer, so the members are read when the rule
 * fires and again when the window is cut: a process that ran in the cgroup and exited before the
 * firing is not among them.
 */
export class CgroupMembers {
  private root: Promise<string | undefined> | undefined;

  constructor(private readonly options: CgroupMembersOptions = {}) {}

  async pids(path: string): Promise<Set<number>> {
    const pids = new Set<number>();
    const root = await this.mount();
    // The path comes from the daemon's own walk of the mount; normalizing keeps it inside anyway.
    const relative = posix.normalize(`/${path}`).replace(/^\/+/, '');
    if (root === undefined || relative.split('/').includes('..')) return pids;
    const queue = [join(root, relative)];
    const max = this.options.maxCgroups ?? DEFAULT_MAX_CGROUPS;
    for (let read = 0; read < queue.length && read < max; read++) {
      const directory = queue[read];
      try {
        for (const line of (await readFile(join(directory, 'cgroup.procs'), 'utf8')).split('\n')) {
          const pid = Number(line);
          if (line !== '' && Number.isInteger(pid) && pid > 0) pids.add(pid);
        }
        for (const entry of await readdir(directory, { withFileTypes: true })) {
          if (entry.isDirectory()) queue.push(join(directory, entry.name));
        }
      } catch {
        // Removed while being read, or not a cgroup: it has no members to add.
      }
    }
    return pids;
  }

  private mount(): Promise<string | undefined> {
    if (this.options.root !== undefined) return Promise.resolve(this.options.root);
    this.root ??= readFile(this.options.mountsFile ?? '/proc/self/mounts', 'utf8').then(findCgroup2Mount, () => undefined);
    return this.root;
  }
}
