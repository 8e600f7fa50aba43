import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import type { MetricInstance, MetricReading } from '../model/metrics.js';

type CgroupInstance = Extract<MetricInstance, { kind: 'cgroup' }>;

/** Suffixes of systemd unit types that own a cgroup. */
const UNIT_SUFFIXES = ['.service', '.scope', '.slice', '.socket', '.mount', '.swap'];

/** The systemd unit a cgroup directory is (its name, when that ends in a unit type), else undefined. */
export function systemdUnit(directoryName: string): string | undefined {
  for (const suffix of UNIT_SUFFIXES) if (directoryName.length > suffix.length && directoryName.endsWith(suffix)) return directoryName;
  return undefined;
}

/**
 * Where cgroup v2 is mounted, from /proc/self/mounts text: /sys/fs/cgroup on a unified host, often
 * /sys/fs/cgroup/unified on a hybrid (v1 + v2) one; undefined when v2 is not mounted.
 */
export function findCgroup2Mount(mountsText: string): string | undefined {
  let found: string | undefined;
  for (const line of mountsText.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] !== 'cgroup2') continue;
    const mountPoint = fields[1].replace(/\\040/g, ' ');
    if (mountPoint === '/sys/fs/cgroup') return mountPoint;
    found ??= mountPoint;
  }
  return found;
}

/** `usage_usec` from cpu.stat text (the first line on every kernel), or undefined. */
export function parseCpuStatUsage(text: string): number | undefined {
  const at = text.indexOf('usage_usec ');
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at);
  const value = Number(text.slice(at + 11, end < 0 ? text.length : end));
  return Number.isFinite(value) ? value : undefined;
}

interface CgroupEntry {
  instance: CgroupInstance;
  usageUsec: number | undefined;
  atMs: number;
  seenRound: number;
}

export interface CgroupStatsOptions {
  /** The cgroup v2 mount; found in `mountsFile` when not given. */
  root?: string;
  /** Where to look for the cgroup2 mount. @defaultValue '/proc/self/mounts' */
  mountsFile?: string;
  /** Directory levels below the root to walk (the root is depth 0). @defaultValue 6 */
  maxDepth?: number;
  /** Cgroups read per round; the walk is breadth-first, so the top of the tree always fits. @defaultValue 2000 */
  maxCgroups?: number;
  /** @defaultValue performance.now */
  monotonicMs?: () => number;
}

/**
 * Per cgroup v2 directory: `cpu` (cpu.stat usage_usec over the interval, in cores) and `rss`
 * (memory.current, bytes). The root cgroup ('/') has cpu.stat but no memory.current. A cgroup seen
 * for the first time has no `cpu` reading yet. Removed cgroups are forgotten.
 */
export class CgroupStats {
  /** The cgroup v2 mount being read, or undefined (see {@link unavailableReason}). */
  readonly root: string | undefined;
  /** Why cgroups are not read at all (cgroup v2 not mounted), or undefined. */
  readonly unavailableReason: string | undefined;
  /** Why cgroup `rss` is missing though `cpu` is read (no memory controller in v2), or undefined. */
  readonly memoryUnavailableReason: string | undefined;
  private readonly maxDepth: number;
  private readonly maxCgroups: number;
  private readonly monotonicMs: () => number;
  private readonly entries = new Map<string, CgroupEntry>();
  private readonly buffer = Buffer.allocUnsafe(4096);
  private round = 0;

  constructor(options: CgroupStatsOptions = {}) {
    this.maxDepth = options.maxDepth ?? 6;
    this.maxCgroups = options.maxCgroups ?? 2000;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
    let root = options.root;
    if (root === undefined) {
      try {
        root = findCgroup2Mount(readFileSync(options.mountsFile ?? '/proc/self/mounts', 'utf8'));
      } catch {
        root = undefined;
      }
    }
    this.root = root;
    if (root === undefined) {
      this.unavailableReason =
        `cgroup v2 is not mounted (no cgroup2 entry in ${options.mountsFile ?? '/proc/self/mounts'}): per-cgroup and per-unit metrics are off. ` +
        'Mount it (mount -t cgroup2 none /sys/fs/cgroup/unified) or boot with systemd.unified_cgroup_hierarchy=1.';
      return;
    }
    const controllers = this.readSmall(`${root}/cgroup.controllers`) ?? '';
    if (!controllers.split(/\s+/).includes('memory')) {
      this.memoryUnavailableReason =
        `the memory controller is not in the cgroup v2 hierarchy at ${root} (controllers: ${controllers.trim() || 'none'}; ` +
        'on a hybrid host cgroup v1 holds it): cgroup rss is off, process rss is unaffected. ' +
        'Boot with systemd.unified_cgroup_hierarchy=1 for a unified hierarchy.';
    }
  }

  /** Cgroups currently tracked. */
  get size(): number {
    return this.entries.size;
  }

  /** One walk of the tree: appends `cpu` and `rss` readings stamped `timeMs` to `out`. */
  collect(timeMs: number, out: MetricReading[] = []): MetricReading[] {
    if (this.root === undefined) return out;
    const round = ++this.round;
    const atMs = this.monotonicMs();
    // Breadth-first: [path below the root, depth].
    const queue: Array<[string, number]> = [['/', 0]];
    let read = 0;
    for (let head = 0; head < queue.length && read < this.maxCgroups; head++) {
      const [path, depth] = queue[head];
      const directory = path === '/' ? this.root : this.root + path;
      const usage = this.readUsage(`${directory}/cpu.stat`);
      if (usage === undefined && path !== '/') continue; // removed since its parent was listed
      read++;
      this.observe(path, usage, this.readNumber(`${directory}/memory.current`), atMs, timeMs, round, out);
      if (depth >= this.maxDepth) continue;
      let children;
      try {
        children = readdirSync(directory, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const child of children) if (child.isDirectory()) queue.push([path === '/' ? `/${child.name}` : `${path}/${child.name}`, depth + 1]);
    }
    for (const [path, entry] of this.entries) if (entry.seenRound !== round) this.entries.delete(path);
    return out;
  }

  private observe(path: string, usageUsec: number | undefined, memoryBytes: number | undefined, atMs: number, timeMs: number, round: number, out: MetricReading[]): void {
    let entry = this.entries.get(path);
    if (!entry) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      const unit = systemdUnit(name);
      entry = { instance: unit ? { kind: 'cgroup', path, unit } : { kind: 'cgroup', path }, usageUsec, atMs, seenRound: round };
      this.entries.set(path, entry);
    } else {
      entry.seenRound = round;
      const elapsedMs = atMs - entry.atMs;
      if (usageUsec !== undefined && entry.usageUsec !== undefined && elapsedMs > 0) {
        const cores = Math.max(0, usageUsec - entry.usageUsec) / (elapsedMs * 1000);
        out.push({ metric: 'cpu', instance: entry.instance, value: cores, timeMs });
      }
      entry.usageUsec = usageUsec;
      entry.atMs = atMs;
    }
    if (memoryBytes !== undefined) out.push({ metric: 'rss', instance: entry.instance, value: memoryBytes, timeMs });
  }

  private readUsage(path: string): number | undefined {
    const text = this.readSmall(path);
    return text === undefined ? undefined : parseCpuStatUsage(text);
  }

  private readNumber(path: string): number | undefined {
    const text = this.readSmall(path);
    if (text === undefined) return undefined;
    const value = Number(text);
    return Number.isFinite(value) ? value : undefined;
  }

  // open/read/close into one reused buffer: no allocation but the returned string.
  private readSmall(path: string): string | undefined {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const length = readSync(fd, this.buffer, 0, this.buffer.length, 0);
      return this.buffer.toString('latin1', 0, length);
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }
}
