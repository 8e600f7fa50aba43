import type { RedactRules } from './redact-rules.js';
import type { PageFaultMode } from './page-fault-profile.js';
import type { UnwindMode } from './unwind-table.js';

/** The daemon's configuration (tail2.yaml) after validation, with defaults applied and paths absolute. */
export interface Tail2Config {
  /** The file it was read from. */
  file: string;
  sampling: {
    /** Samples per second per CPU. @defaultValue 99 */
    frequency: number;
    /** tail2d's own CPU cap, a share of one core; above it sampling slows down. @defaultValue 0.25 */
    maxCpu: number;
    /** How user stacks are walked (docs/unwinding.md). @defaultValue 'auto' */
    unwind: UnwindMode;
    /** Kernel memory for the unwind tables' BPF maps (bytes). @defaultValue 64 MiB */
    unwindMemoryBytes: number;
    /** The page-fault profile (docs/profiles.md): when it runs, and faults per sample. */
    pageFaults: { mode: PageFaultMode; periodFaults: number };
    /**
     * The allocation profile (docs/profiles.md#allocations): `auto` loads its programs where the
     * kernel has session uprobes, to attach on demand; mean bytes between samples; sampled
     * allocations the kernel tracks.
     */
    allocations: { mode: 'auto' | 'off'; meanBytes: number; maxTracked: number };
    /** The copy profile (docs/profiles.md#copies): `auto` loads its program where the kernel has session uprobes; mean bytes copied between samples. */
    copies: { mode: 'auto' | 'off'; meanBytes: number };
  };
  buffer: {
    /** History kept in memory (ms). @defaultValue 10 minutes */
    retainMs: number;
    /** Bound on the buffer's memory (bytes). @defaultValue 256 MiB */
    maxMemoryBytes: number;
  };
  /** Incidents and the daemon's own Redis live here. */
  stateDir: string;
  web: {
    /** host:port. @defaultValue 127.0.0.1:8383 */
    listen: { host: string; port: number };
    /** Base of links in notifications. @defaultValue http://<listen> */
    publicUrl: string;
    /** Required when listening beyond loopback. */
    token?: string;
  };
  redis: {
    /** Absent: the daemon runs its own redis-server under stateDir. */
    url?: string;
  };
  rulesFile: string;
  /**
   * How files of profiled processes are read for symbols (daemon/symbols/process-files.ts): debug
   * directories, size caps, the time budget per file and the reader processes' memory.
   */
  symbols: {
    debugDirectories: string[];
    /** Binaries and debug files larger than this are not read. @defaultValue 2 GiB */
    maxDebugFileBytes: number;
    /** At most this much of a perf map is read, its newest part. @defaultValue 256 MiB */
    maxPerfMapBytes: number;
    /** One file's symbolization past this stops it; its frames show as [module+0xoffset]. @defaultValue 10 s */
    fileTimeBudgetMs: number;
    /** Memory each tail2-reader process may allocate. @defaultValue 1 GiB */
    maxReaderMemoryBytes: number;
    /** Bound on the unwind tables kept in `<stateDir>/unwind-tables/` between restarts; the oldest used go first. @defaultValue 256 MiB */
    maxUnwindCacheBytes: number;
  };
  /** What is hidden in command lines before they are stored or sent (`redact:`); names are lower-case. */
  redact: RedactRules;
  /** Incident retention; absent keys take the store's defaults (1000 incidents, 30 days, 2 GiB). */
  store: { maxIncidents?: number; maxAgeMs?: number; maxDiskBytes?: number };
  /** The probes attached to processes (docs/profiles.md#allocations). */
  probes: {
    /** The most a probed process may be slowed (share of its CPU time): past it, its probes go. @defaultValue 0.05 */
    maxOverhead: number;
  };
  /** What captures write (`capture:`); applied again on SIGHUP. */
  capture: {
    /**
     * Keep the idle task (pid 0) in incidents' profiles; by default it is left out and the idle
     * share is stated instead. @defaultValue false
     */
    includeIdle: boolean;
  };
  notifiers: Record<string, NotifierConfig>;
}

export type NotifierConfig =
  | { type: 'slack'; token: string; channel: string; apiUrl?: string }
  | { type: 'slack_webhook'; url: string }
  | { type: 'email'; smtp: string; from: string; to: string[] };
