/**
 * Every process the sampler has seen, keyed by pid *and* start time so a reused pid never mixes two
 * processes. A process is snapshotted (command line, executable mappings) the moment it is first
 * seen, so it can still be symbolized after it exits.
 */
export interface ProcessEntry {
  /** Index in the table; what stacks refer to. */
  id: number;
  pid: number;
  /** Start time of the thread group leader, ns on the boot-time clock (from the BPF record). */
  startTimeNs: number;
  /** comm of the first sampled thread. */
  comm: string;
  /** Filled in by the snapshot hook; absent for the idle task and for processes gone before it ran. */
  snapshot?: unknown;
  /**
   * Set for a process met through its exec event: the snapshot taken then may predate the dynamic
   * loader mapping the libraries, so the first sample takes it again.
   */
  snapshotAgain?: boolean;
}

/** Takes (or retakes) a process's snapshot. */
export type NewProcessHook = (entry: ProcessEntry) => void;

export class ProcessTable {
  private readonly byPid = new Map<number, ProcessEntry>();
  private readonly entries: ProcessEntry[] = [];

  constructor(private readonly onNewProcess?: NewProcessHook) {}

  get size(): number {
    return this.entries.length;
  }

  get(id: number): ProcessEntry {
    return this.entries[id];
  }

  all(): readonly ProcessEntry[] {
    return this.entries;
  }

  /** The id of the process (pid, start time); creates and snapshots it when new. */
  lookup(pid: number, startTimeNs: number, comm: () => string): number {
    const current = this.byPid.get(pid);
    if (current !== undefined && current.startTimeNs === startTimeNs) {
      if (current.snapshotAgain) {
        current.snapshotAgain = false;
        this.onNewProcess?.(current);
      }
      return current.id;
    }
    return this.add(pid, startTimeNs, comm());
  }

  /**
   * The process replaced its image (execve): the same pid and start time now run other code, so
   * it becomes a new entry with a fresh snapshot, and samples from before keep the old one.
   */
  exec(pid: number, startTimeNs: number, comm: string): number {
    const id = this.add(pid, startTimeNs, comm);
    this.entries[id].snapshotAgain = true;
    return id;
  }

  private add(pid: number, startTimeNs: number, comm: string): number {
    const entry: ProcessEntry = { id: this.entries.length, pid, startTimeNs, comm };
    this.entries.push(entry);
    this.byPid.set(pid, entry);
    this.onNewProcess?.(entry);
    return entry.id;
  }
}
