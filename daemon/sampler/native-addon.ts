import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbedProfile } from '../model/profile-kind.js';
import { Tail2Error } from '../model/tail2-error.js';

/** Counters of the BPF sampler, summed over CPUs. */
export interface NativeSamplerStats {
  /** perf ticks the BPF program ran for */
  samples: number;
  /** records refused by the full ring buffer */
  lost: number;
  /** ticks skipped by the pid filter */
  filtered: number;
  /** exec events written (processes that started a new image) */
  execs: number;
  /** records in batches JS did not take in time */
  droppedInUserspace: number;
  /** records handed to JS */
  delivered: number;
  /** batches handed to JS */
  deliveredBatches: number;
  /** CPUs with an attached perf event */
  cpus: number;
  ringBufferBytes: number;
  /** ns the kernel spent running the BPF program; counted only while kernel.bpf_stats_enabled=1 */
  bpfRunTimeNs: number;
  /** user stacks walked with unwind tables */
  tableWalks: number;
  /** ... that stopped at MAX_USER_DEPTH frames */
  walksTruncated: number;
  /** ... that stepped by frame pointer at least once */
  walksFramePointer: number;
  /** ... that met an address outside every mapping known */
  walksUnknownMapping: number;
  /** ... that stopped short of a root */
  walksStopped: number;
  /** user stacks of processes without tables (frame pointers alone), with tables on */
  walksWithoutTables: number;
  /** exit events written (processes that had tables) */
  exits: number;
  /** page-fault perf events the BPF program ran for (one per period of faults) */
  pageFaultSamples: number;
  /** faults per page-fault sample; 0 while no page-fault event is attached */
  pageFaultPeriod: number;
  /** Capacities of the unwind maps (0 with tables off) and the kernel memory they take. */
  unwindRowCapacity: number;
  unwindMappingCapacity: number;
  unwindProcessCapacity: number;
  unwindMapBytes: number;
  /** Allocations sampled (bpf/allocations.h), those the kernel's table had no room to track, and frees of sampled ones seen. */
  allocationSamples: number;
  allocationsUntracked: number;
  allocationFrees: number;
  /** Time the allocation probes' programs ran (ns, with kernel.bpf_stats_enabled) and how often. */
  allocationProbeRunTimeNs: number;
  allocationProbeRuns: number;
  /** The same per program (ALLOCATION_PROGRAMS), while it is loaded. */
  allocationProbePrograms: Partial<Record<AllocationProgram, { runTimeNs: number; runs: number }>>;
  /** Processes with allocation probes attached. */
  allocationProbedProcesses: number;
  /** Entries of the kernel's table of sampled allocations; 0 when the programs are not loaded. */
  allocationTrackedCapacity: number;
  /** Why the allocation probes cannot be attached (not asked for, or the kernel lacks session uprobes). */
  allocationsUnavailable?: string;
  /** Copies sampled (bpf/copies.h). */
  copySamples: number;
  /** Time the copy program ran (ns, with kernel.bpf_stats_enabled) and how often. */
  copyProbeRunTimeNs: number;
  copyProbeRuns: number;
  /** Processes with copy probes attached. */
  copyProbedProcesses: number;
  /** Why the copy probes cannot be attached (not asked for, or the kernel lacks session uprobes). */
  copiesUnavailable?: string;
}

/** The allocation programs of bpf/allocations.h, by the argument that holds the size. */
export const ALLOCATION_PROGRAMS = ['size_arg1', 'size_arg2', 'calloc', 'realloc', 'posix_memalign', 'free'] as const;
export type AllocationProgram = (typeof ALLOCATION_PROGRAMS)[number];
/** The copy program of bpf/copies.h: memcpy, memmove and mempcpy take the size third. */
export type CopyProgram = 'size_arg3';
/** What a probe set's offsets name: the programs of its profile. */
export type ProbeProgram = AllocationProgram | CopyProgram;

export interface NativeSamplerOptions {
  /** Hz per CPU. */
  frequency: number;
  /** Thread-group id to sample alone; 0 for every process. */
  targetPid?: number;
  /** Ring buffer size, rounded up to a power of two. */
  ringBufferBytes?: number;
  /** How often the drain thread hands a batch to JS. */
  batchIntervalMs?: number;
  /** Bytes of batches JS has not taken yet past which new ones are dropped and counted. @defaultValue 64 MiB */
  maxQueuedBytes?: number;
  /** Walk user stacks with unwind tables where they are loaded (bpf/user-stack.h). @defaultValue false */
  unwindTables?: boolean;
  /** Capacity of the rows map (8 bytes each). */
  unwindRows?: number;
  /** Capacity of the mappings map (32 bytes each). */
  unwindMappings?: number;
  /** Capacity of the processes hash. */
  unwindProcesses?: number;
  /**
   * Faults per page-fault sample to attach with at start (0: loaded, not attached). Undefined: the
   * page-fault program is not loaded at all, and setPageFaultPeriod throws.
   */
  pageFaultPeriod?: number;
  /**
   * The allocation profile's programs: loaded when given (and the kernel has session uprobes),
   * with a sampling point every `meanBytes` and room for `maxTracked` sampled allocations.
   */
  allocations?: { meanBytes: number; maxTracked: number };
  /** The copy profile's program: loaded when given (and the kernel has session uprobes), sampling every `meanBytes` copied. */
  copies?: { meanBytes: number };
  onBatch: (batch: Buffer) => void;
  onError?: (error: Error) => void;
}

export interface NativeSampler {
  /** Loads and attaches; returns the number of CPUs attached. Throws native errors with `code`. */
  start(): number;
  stop(): void;
  stats(): NativeSamplerStats;
  /** Wakes the drain thread: what the ring holds is handed to JS now. */
  flush(): void;
  /** A new sampling frequency (Hz per CPU) on the running perf events, in place. */
  setFrequency(hz: number): void;
  /** One page-fault sample per `faults` faults from now on (attaching if needed); 0 detaches. */
  setPageFaultPeriod(faults: number): void;
  /** Copies rows (struct tail2_unwind_row each) into the rows map at index `first`. Throws RangeError when they do not fit. */
  writeUnwindRows(first: number, rows: Uint8Array): void;
  /** Writes a process's mappings (5 words each: start, end, bias, rows_first, rows_count) at `first` and points its entry at them. */
  setUnwindProcess(tgid: number, startTimeNs: bigint, first: number, mappings: BigUint64Array): void;
  /** Removes a process's entry (none is fine). */
  deleteUnwindProcess(tgid: number): void;
  /**
   * The session uprobes of `profile` for `pid` (a probe set: bpf/sampler.h) in `path` (a
   * /proc/PID/map_files/ link), which must still be `file`, at each program's file offsets;
   * `flags` are the profile's cookie bits (malloc: 1 when the allocator is glibc's, whose
   * realloc(NULL) and small-alignment memalign call malloc). Replaces the pid's set of that
   * profile. Returns the links made.
   */
  attachProbes(
    profile: ProbedProfile,
    pid: number,
    path: string,
    file: { devMajor: number; devMinor: number; inode: number },
    offsets: Partial<Record<ProbeProgram, number[]>>,
    flags: number,
  ): number;
  /** Detaches `pid`'s set of `profile`; for malloc, forgets its sampled allocations in the kernel's table and returns how many. */
  detachProbes(profile: ProbedProfile, pid: number): number;
  /** Calls into the functions of `pid`'s set of `profile` since it was attached; 0 when it has none. */
  probeCalls(profile: ProbedProfile, pid: number): number;
  /** `pid`'s copies by size since its copy probes were attached (COPY_SIZE_BUCKETS counts); empty when it has none. */
  copySizes(pid: number): number[];
}

/**
 * What one read of the task iterator (native/task-stats.cc, bpf/task-stats.bpf.c) returns: one
 * entry per process (thread-group leader) on the host, kernel threads and zombies included, as
 * columns.
 */
export interface TaskColumns {
  count: number;
  pids: Int32Array;
  ppids: Int32Array;
  /** Start time, ns since boot (/proc/PID/stat field 22 is this in clock ticks). */
  startNs: Float64Array;
  /** CPU time of the whole process since it started (every thread, live and exited), ns. */
  cpuNs: Float64Array;
  /** Resident pages (file + anon + shmem), as /proc/PID/stat field 24. */
  rssPages: Float64Array;
  /** TAIL2_TASK_FLAG_* of bpf/task-stats.h: 1 kernel thread, 2 zombie. */
  flags: Uint8Array;
  /** `count` × 16 bytes: each process's comm, NUL-padded. */
  comms: Buffer;
  /** Bytes of records the kernel wrote for this read. */
  bytes: number;
}

/** The task iterator, loaded and attached by its constructor (throws native errors with `code`). */
export interface NativeTaskStats {
  read(): TaskColumns;
  close(): void;
}

export interface NativeAddon {
  Sampler: new (options: NativeSamplerOptions) => NativeSampler;
  TaskStats: new () => NativeTaskStats;
  /**
   * Sends `state` to systemd's notification socket ($NOTIFY_SOCKET, or `socketPath`); false when
   * there is none. Throws (code TAIL2_SD_NOTIFY) when the send fails.
   */
  sdNotify(state: string, socketPath?: string): boolean;
  /** The Error the sampler throws for a failed step with this errno and libbpf log (for tests). */
  describeBpfError(step: string, errno: number, log: string): Error & { code: string; errno: number; hint: string; verifierLog?: string };
  RECORD_HEADER_BYTES: number;
  RECORD_VERSION: number;
  MAX_STACK_DEPTH: number;
  MAX_USER_DEPTH: number;
  RECORD_LAYOUT: Record<string, number>;
}

/** The addon's path: native/build/Release/tail2_native.node, found from src (vitest) or dist/ (tsc output). */
function addonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'native', 'build', 'Release', 'tail2_native.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Tail2Error('TAIL2_NO_ADDON', 'the native addon native/build/Release/tail2_native.node is not built.', 'Run `npm run build` (it installs the build dependencies and compiles it).');
}

let cached: NativeAddon | undefined;

/** Loads the native addon once. */
export function loadNativeAddon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(addonPath()) as NativeAddon;
  }
  return cached;
}
