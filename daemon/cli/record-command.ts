import { Tail2Error } from '../model/tail2-error.js';
import { outputFormatOf, writeProfile } from '../formats/write-profile.js';
import { commonMainBinary, mainBinaryOf } from '../formats/main-binary.js';
import { idleText, measureIdleShare } from '../profile/idle-share.js';
import { Recording } from '../profile/recording.js';
import { StackSampler, monotonicToWallMs } from '../sampler/stack-sampler.js';
import { ProcessFiles } from '../symbols/process-files.js';
import { ProfileSymbolizer } from '../symbols/profile-symbolizer.js';
import { formatDuration } from '../model/duration.js';
import { DEFAULT_PAGE_FAULT_PERIOD } from '../model/page-fault-profile.js';
import { formatWeight, PROFILE_KINDS } from '../model/profile-kind.js';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UnwindMode } from '../model/unwind-table.js';
import { UnwindTables } from '../unwind/unwind-tables.js';
import { unwindCapacities } from '../unwind/unwind-budget.js';
import { UnwindLoader } from '../unwind/unwind-loader.js';
import { processAlive } from '../unwind/process-alive.js';
import { recordCacheDir } from './record-cache-dir.js';
import { OwnChildren } from './own-children.js';
import { terminalText } from '../model/terminal-text.js';
import { COPY_SIZE_BUCKETS, copySizeBuckets, copySizesText } from '../model/copy-sizes.js';
import { DEFAULT_ALLOCATION_MEAN_BYTES, DEFAULT_COPY_MEAN_BYTES, DEFAULT_MAX_TRACKED_ALLOCATIONS } from '../model/allocation-sampling.js';
import { AllocatorTarget } from '../probes/allocator-target.js';
import { CopyTarget } from '../probes/copy-target.js';
import { UserProbes } from '../probes/user-probes.js';
import type { SampleSource } from '../profile/sample-source.js';

/** Kernel memory for the unwind tables of a recording: one process, or a host's worth for a while. */
const RECORD_UNWIND_MEMORY = 64 << 20;
/** The most `--pid` waits for its process's tables before it records anyway. */
const TABLES_WAIT_MAX_MS = 3000;

export interface RecordOptions {
  durationMs: number;
  frequency: number;
  output: string;
  /** Sample only this process (filtered in the kernel). */
  pid?: number;
  /** Keep only processes whose comm or command line matches. */
  processPattern?: RegExp;
  /**
   * Keep the idle task's samples (pid 0) in the profile. Either way a recording of the host (not
   * `pid`) states how idle the CPUs were in its title.
   */
  includeIdle?: boolean;
  /** How user stacks are walked. @defaultValue auto */
  unwind?: UnwindMode;
  /**
   * What the profile is of: CPU samples, or page faults (docs/profiles.md), one sample per
   * `pageFaultPeriod` faults, weighted in bytes. @defaultValue cpu
   */
  profile?: RecordProfile;
  /** Faults per page-fault sample. @defaultValue DEFAULT_PAGE_FAULT_PERIOD */
  pageFaultPeriod?: number;
  /** With `malloc` or `inuse`: the mean bytes between sampled allocations. @defaultValue DEFAULT_ALLOCATION_MEAN_BYTES */
  allocationMeanBytes?: number;
  /** Where progress goes; stderr in the CLI. */
  log: (line: string, transient?: boolean) => void;
  /** Resolves early on Ctrl-C; the recording is still written. */
  interrupted?: Promise<void>;
}

/**
 * The kinds of profile `tail2 record` writes (`--profile`): `malloc` the bytes allocated while it
 * ran, `inuse` those still allocated when it stopped, both of one process (`pid`), whose allocator
 * is probed; `memcpy` the bytes it copied, its copy functions probed (docs/profiles.md).
 */
export type RecordProfile = 'cpu' | 'page_faults' | 'malloc' | 'inuse' | 'memcpy';

export interface RecordSummary {
  samples: number;
  /** What the samples weigh in the profile's unit: the sample count for CPU, bytes for page faults. */
  weight: number;
  stacks: number;
  processes: number;
  lost: number;
  durationMs: number;
  /** Share (0–1) of the CPUs' time spent idle; absent for one process (`pid`), which sees no idle task. */
  idleShare?: number;
}

/** pprof's comment on a profile of the host without the idle task (its share is in the title). */
const IDLE_LEFT_OUT = 'the idle task (pid 0) is left out of the samples';

/** `tail2 record`: samples the host (or one process) for a while and writes one profile file. */
export async function runRecord(options: RecordOptions): Promise<RecordSummary> {
  outputFormatOf(options.output); // a bad file name fails before any sampling
  // Everything a profiled process controls is read by tail2-reader processes, never here.
  const files = new ProcessFiles();
  try {
    return await recordWith(files, options);
  } finally {
    files.close();
  }
}

async function recordWith(files: ProcessFiles, options: RecordOptions): Promise<RecordSummary> {
  const kind = options.profile ?? 'cpu';
  const allocations = kind === 'malloc' || kind === 'inuse';
  const copies = kind === 'memcpy';
  if ((allocations || copies) && options.pid === undefined) {
    throw new Tail2Error('TAIL2_USAGE', `--profile ${kind} needs --pid: its probes are attached to one process`);
  }
  const meanBytes = options.allocationMeanBytes ?? DEFAULT_ALLOCATION_MEAN_BYTES;
  let probes: UserProbes | undefined;
  const withTables = (options.unwind ?? 'auto') === 'auto';
  let loader: UnwindLoader | undefined;
  // Host-wide, the recorder's own tail2-reader processes are sampled too: they are left out.
  const own = new OwnChildren();
  const ours = (pid: number) => !options.pid && (pid === process.pid || own.has(pid));
  const recording = new Recording((pid, startTimeNs) => (ours(pid) ? Promise.resolve(undefined) : files.snapshot(pid, startTimeNs)), {
    tablesWanted: (pid, startTimeNs, unknownMapping) => (ours(pid) ? undefined : loader?.tablesWanted(pid, startTimeNs, unknownMapping)),
    gone: (pid, startTimeNs, timeNs) => {
      loader?.gone(pid, startTimeNs);
      probes?.processGone(pid, timeNs, 'the process exec’d a new image or exited');
    },
  }, allocations ? meanBytes : undefined);
  const faultPeriod = options.pageFaultPeriod ?? DEFAULT_PAGE_FAULT_PERIOD;
  const sampler = new StackSampler({
    frequency: options.frequency,
    pid: options.pid,
    unwind: withTables ? unwindCapacities(RECORD_UNWIND_MEMORY) : undefined,
    // Only a page-fault recording loads (and verifies) the page-fault program.
    pageFaults: kind === 'page_faults' ? { period: faultPeriod } : undefined,
    allocations: allocations ? { meanBytes, maxTracked: DEFAULT_MAX_TRACKED_ALLOCATIONS } : undefined,
    copies: copies ? { meanBytes: DEFAULT_COPY_MEAN_BYTES } : undefined,
    onBatch: (batch) => recording.ingest(batch),
  });
  let startedNs = Number(process.hrtime.bigint());
  const cpus = sampler.start();
  const maps = sampler.unwindMaps();
  let tables: UnwindTables | undefined;
  if (maps) {
    // Kept on disk between recordings: a second `tail2 record` reads the tables of the host's
    // binaries back instead of compiling them again (most of tail2-reader's work while sampling).
    tables = new UnwindTables({ files, stateDir: recordCacheDir(), onProblem: cacheProblem(options.log) });
    loader = new UnwindLoader({ maps, tables, snapshot: (pid, startTimeNs) => files.snapshot(pid, startTimeNs), alive: processAlive });
    // One process: its recording starts once its tables are loaded, so that none of its stacks
    // is a frame-pointer walk. Host-wide, each process is walked with tables from the moment its
    // own are loaded (its first ~100 ms are frame-pointer walks), and nothing waits.
    if (options.pid !== undefined) {
      await tablesLoaded(sampler, loader, options.pid);
      startedNs = Number(process.hrtime.bigint());
    }
  }
  if ((allocations || copies) && options.pid !== undefined) {
    const writer = sampler.probeWriter(copies ? 'memcpy' : 'malloc');
    const ledger = recording.allocations;
    if (!writer || (allocations && !ledger)) throw new Error(`record: the sampler started without the ${kind} programs`);
    probes = new UserProbes({
      target: copies
        ? new CopyTarget((process, mapping, names) => files.resolvedFunctions(process, mapping, names))
        : new AllocatorTarget((process, mapping, names) => files.functionOffsets(process, mapping, names)),
      writer,
      snapshot: (pid) => files.snapshot(pid),
      follow: ledger ? (pid) => ledger.follow(pid) : undefined,
      forget: ledger ? (pid) => ledger.forget(pid) : undefined,
    });
    try {
      const probed = await probes.attach(options.pid, options.durationMs + 60_000, 'tail2 record');
      options.log(`tail2: probing ${probed.functions.join(', ')} in ${terminalText(probed.file)}`);
    } catch (error) {
      await sampler.stop();
      loader?.close();
      probes.close();
      throw new Tail2Error('TAIL2_USAGE', terminalText((error as Error).message));
    }
    startedNs = Number(process.hrtime.bigint());
  }
  const target = options.pid ? `pid ${options.pid}` : options.processPattern ? `processes matching ${options.processPattern}` : 'every process';
  const what =
    kind === 'cpu'
      ? `at ${options.frequency} Hz`
      : kind === 'page_faults'
        ? `for page faults, one sample per ${faultPeriod} faults`
        : copies
          ? `for copies, one sample per ${formatWeight(DEFAULT_COPY_MEAN_BYTES, 'bytes')} copied on average`
          : `for allocations, one sample per ${formatWeight(meanBytes, 'bytes')} allocated on average`;
  options.log(`tail2: sampling ${target} on ${cpus} CPUs ${what} for ${formatDuration(options.durationMs)} (Ctrl-C to stop early)`);

  const progress = setInterval(() => {
    const elapsed = (Number(process.hrtime.bigint()) - startedNs) / 1e6;
    // A page-fault recording's sampler ticks the CPUs too: the progress counts every record taken.
    options.log(`tail2: ${formatDuration(elapsed)} / ${formatDuration(options.durationMs)}, ${recording.samples.length} samples${kind === 'cpu' ? '' : ' (CPU ticks included)'}`, true);
  }, 1000);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, options.durationMs))), options.interrupted ?? new Promise(() => {})]);
  } finally {
    clearTimeout(timer); // an early stop must not leave the timer holding the process open
    clearInterval(progress);
    // Every copy counted by size, read while the sampler's maps are there.
    const sizes = copies && options.pid !== undefined ? copySizeBuckets(sampler.copySizes(options.pid)) : [];
    if (sizes.length > 0) options.log(`tail2: copies by size: ${copySizesText(sizes, COPY_SIZE_BUCKETS)}`);
    await sampler.stop();
    loader?.close();
  }
  await tables?.flush(); // the tables compiled in this run, on disk for the next
  const stoppedNs = Number(process.hrtime.bigint());
  const stats = sampler.stats();

  const symbolizer = new ProfileSymbolizer(files);
  const pattern = options.processPattern;
  // Sampling one process in the kernel sees no idle task: there is no host share to state; nor
  // does a profile of page faults (the idle task takes none).
  const idle = options.pid || kind !== 'cpu' ? undefined : measureIdleShare(recording, recording.samples, { fromNs: startedNs, toNs: stoppedNs + 1, cpus, frequency: options.frequency });
  const idleNote = idleText(idle);
  if (idleNote && idle) {
    const kept = options.includeIdle ? 'kept in the profile' : 'left out of the profile; --include-idle keeps them';
    options.log(`tail2: ${idleNote} while sampling (${idle.idleSamples} samples of the idle task, ${kept})`);
  }
  const includeProcess = (pid: number, comm: string, cmdline: string | undefined): boolean => {
    if (pid === 0) return options.includeIdle === true;
    if (ours(pid)) return false; // the recorder itself is noise
    if (!pattern) return true;
    return pattern.test(comm) || (cmdline !== undefined && pattern.test(cmdline));
  };
  /** The executable of each process in the profile, for pprof's main binary. */
  const binaries = new Map<number, string | undefined>();
  // Outstanding allocations come from the ledger (each one made while recording, not freed since).
  const source: SampleSource = kind === 'inuse' && recording.allocations ? recording.allocations : recording.samples;
  const profile = await symbolizer.symbolize(recording, source, {
    kind,
    frequency: options.frequency,
    monotonicToWallMs,
    fromNs: startedNs,
    toNs: stoppedNs + 1,
    title: `tail2 record on ${hostname()}: ${kind === 'cpu' ? '' : `${PROFILE_KINDS[kind].title.toLowerCase()} of `}${target}${idleNote ? ` — ${idleNote}` : ''}`,
    includeProcess: (entry, snapshot) => {
      const included = includeProcess(entry.pid, entry.comm, snapshot?.cmdline);
      if (included && entry.pid !== 0) binaries.set(entry.pid, mainBinaryOf(snapshot) ?? binaries.get(entry.pid));
      return included;
    },
  });
  if (profile.samples.stack.length === 0) {
    options.log(`tail2: warning: no samples matched ${target}; the profile is empty`);
  }
  // Probes that went while recording (the overhead guard, an exec) say so: the profile stops there.
  for (const failure of probes?.status().failures ?? []) options.log(`tail2: warning: ${terminalText(failure.message)}`);
  const untracked = recording.allocations?.stats().untracked ?? 0;
  if (kind === 'inuse' && untracked > 0) {
    options.log(`tail2: warning: ${untracked} sampled allocations did not fit the kernel's table of sampled allocations: their frees were not followed, and they are left out`);
  }
  // One program (--pid, or --process matching one executable): pprof names it as the main binary.
  // Several, or the whole host: the kernel (see encodePprof).
  const mainBinary = options.pid || pattern ? commonMainBinary(binaries.values()) : undefined;
  probes?.close();
  await writeProfile(profile, options.output, { pprof: { mainBinary, comments: idle && !options.includeIdle ? [IDLE_LEFT_OUT] : [] } });
  const weight = profile.samples.weight ? profile.samples.weight.reduce((sum, w) => sum + w, 0) : profile.samples.stack.length;
  const summary: RecordSummary = {
    samples: profile.samples.stack.length,
    weight,
    stacks: profile.stacks.length,
    processes: new Set(profile.stacks.map((s) => s.pid)).size,
    lost: (stats?.lost ?? 0) + (stats?.droppedInUserspace ?? 0),
    durationMs: (stoppedNs - startedNs) / 1e6,
  };
  if (idle) summary.idleShare = idle.share;
  options.log(
    `tail2: wrote ${options.output}: ${summary.samples} samples${kind === 'cpu' ? '' : ` (${formatWeight(weight, PROFILE_KINDS[kind].unit)} of ${PROFILE_KINDS[kind].title.toLowerCase()})`}, ${summary.stacks} unique stacks, ${summary.processes} processes` +
      (summary.lost ? `, ${summary.lost} samples lost (ring buffer full)` : ''),
  );
  return summary;
}

/**
 * Until the process's tables are loaded: its first sample reaches the loader within the
 * early-wakeup interval, and the loader reads its mappings and tables. Bounded: a process that
 * does not run starts recording after TABLES_WAIT_MAX_MS anyway.
 */
async function tablesLoaded(sampler: StackSampler, loader: UnwindLoader, pid: number): Promise<void> {
  const deadline = Date.now() + TABLES_WAIT_MAX_MS;
  while (!loader.knows(pid) && Date.now() < deadline) {
    await sampler.flush(50);
    await Promise.race([loader.idle(), sleep(50)]);
  }
}

/** The unwind-table cache's problems, each said once: a cache that cannot work costs time, not the recording. */
function cacheProblem(log: RecordOptions['log']): (message: string) => void {
  const said = new Set<string>();
  return (message) => {
    if (said.has(message)) return;
    said.add(message);
    log(`tail2: warning: ${message}`);
  };
}

/** Validates `--process`: an invalid regular expression is a usage error naming it. */
export function parseProcessPattern(text: string): RegExp {
  try {
    return new RegExp(text);
  } catch (error) {
    throw new Tail2Error('TAIL2_USAGE', `--process "${text}" is not a valid regular expression: ${(error as Error).message}`);
  }
}
