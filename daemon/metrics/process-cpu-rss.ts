import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { redactCommandLine } from '../redact/redact-command-line.js';
import { DEFAULT_REDACT_RULES, type RedactRules } from '../model/redact-rules.js';
import type { MetricInstance, MetricReading } from '../model/metrics.js';
import { USER_HZ } from './proc-stat.js';
import type { NativeTaskStats, TaskColumns } from '../sampler/native-addon.js';

type ProcessInstance = Extract<MetricInstance, { kind: 'process' }>;

/** The fields of /proc/PID/stat the collector uses. */
export interface ProcPidStat {
  comm: string;
  /** Field 22: start time in clock ticks since boot; with the pid, it names one process. */
  startTime: number;
  /** Fields 14 + 15: user + system CPU time in clock ticks, all threads, since the process started. */
  cpuTicks: number;
  /** Field 24: resident pages. */
  rssPages: number;
}

/** What {@link parseStatBytes} fills in: the numbers, and where comm's bytes are. */
export interface StatFields extends Omit<ProcPidStat, 'comm'> {
  commStart: number;
  commEnd: number;
}

const CLOSE_PAREN = 0x29;
const OPEN_PAREN = 0x28;
const SPACE = 0x20;

/**
 * Parses /proc/PID/stat from bytes. `comm` sits between the first '(' and the LAST ')': it may
 * itself hold spaces and parentheses ("(sd-pam)", "a) b ("), so fields are counted from the last ')'.
 * Returns false when the text is truncated or not a stat line.
 */
export function parseStatBytes(bytes: Uint8Array, length: number, out: StatFields): boolean {
  let close = length - 1;
  while (close > 0 && bytes[close] !== CLOSE_PAREN) close--;
  let open = 0;
  while (open < close && bytes[open] !== OPEN_PAREN) open++;
  if (close <= 0 || open >= close) return false;
  out.commStart = open + 1;
  out.commEnd = close;
  // After ") " comes field 3 (state); count fields up to 24 (rss), parsing only the ones we keep.
  let field = 3;
  let value = 0;
  let utime = 0;
  let stime = 0;
  let found = 0;
  for (let i = close + 2; i <= length; i++) {
    const c = i < length ? bytes[i] : SPACE;
    if (c === SPACE || c === 0x0a) {
      if (field === 14) utime = value;
      else if (field === 15) stime = value;
      else if (field === 22) out.startTime = value;
      else if (field === 24) {
        out.rssPages = value;
        found = 1;
        break;
      }
      field++;
      value = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
    }
  }
  if (!found) return false;
  out.cpuTicks = utime + stime;
  return true;
}

/** {@link parseStatBytes} on text, for tests and tools. */
export function parseProcPidStat(text: string): ProcPidStat {
  const bytes = Buffer.from(text, 'utf8');
  const out: StatFields = { startTime: 0, cpuTicks: 0, rssPages: 0, commStart: 0, commEnd: 0 };
  if (!parseStatBytes(bytes, bytes.length, out)) throw new Error(`not a /proc/PID/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  return { comm: bytes.toString('utf8', out.commStart, out.commEnd), startTime: out.startTime, cpuTicks: out.cpuTicks, rssPages: out.rssPages };
}

let pageSizeCache: number | undefined;

/** The kernel's page size (`getconf PAGESIZE`), asked once; 4096 if that fails. */
export function pageSize(): number {
  if (pageSizeCache === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['PAGESIZE'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
      pageSizeCache = Number.isInteger(value) && value > 0 ? value : 4096;
    } catch {
      pageSizeCache = 4096;
    }
  }
  return pageSizeCache;
}

interface ProcessEntry {
  pid: number;
  /** A /proc/PID/stat fd kept open across rounds (-1: none); pread at 0 regenerates the text. */
  fd: number;
  startTime: number;
  /** CPU time of the whole process at the last reading, seconds. */
  cpuSeconds: number;
  atMs: number;
  /** comm bytes as last seen, to notice an exec (new comm) without decoding every round. */
  commBytes: Buffer;
  instance: ProcessInstance;
  seenRound: number;
  /** The instance and values of the readings last given out for it; NaN before any. */
  givenInstance: ProcessInstance | undefined;
  givenCores: number;
  givenRssBytes: number;
  /**
   * Whether the readings derived from its rss elsewhere (rss_growth) repeat while rss does: set by
   * the collector ({@link ProcessCpuRss.markDerivedSteady}). Until then, and after any change, false.
   */
  derivedSteady: boolean;
  /** The round in which it held: tracked, and every value the same as last given (no readings). */
  heldRound: number;
}

export interface ProcessCpuRssOptions {
  /** @defaultValue '/proc' */
  procRoot?: string;
  /**
   * /proc/PID/stat fds kept open between rounds. A kept fd skips the path lookup of open(): about
   * half the cost of a round. Past the budget, processes are read with open/read/close.
   * @defaultValue 4096
   */
  maxOpenFiles?: number;
  /** @defaultValue performance.now */
  monotonicMs?: () => number;
  /** Bytes per page for the rss field. @defaultValue {@link pageSize}() */
  pageSize?: number;
  /** Reads a process's command line; replaceable for tests. @defaultValue reads /proc/PID/cmdline, redacted with `redact` */
  readCmdline?: (pid: number) => string;
  /**
   * Reads a process's command line elsewhere (tail2d: in tail2-reader, ProcessFiles.cmdline, since
   * a process can make a read of its command line wait as long as it likes). The reading carries
   * an empty command line until the answer arrives, then the answer. Takes precedence over
   * `readCmdline`.
   */
  cmdlineReader?: (pid: number, startTicks: number) => Promise<string | undefined>;
  /**
   * Where CPU time and RSS come from: the task iterator (one read for every process on the host,
   * in the kernel: native/task-stats.cc), or `/proc/PID/stat` files. `undefined` reads /proc.
   * MetricCollector opens the iterator and falls back to /proc, with the reason, when it cannot.
   */
  taskStats?: NativeTaskStats;
  /**
   * What the default `readCmdline` hides (secret-looking option values, URL passwords) before a
   * command line goes anywhere: readings, rules, incidents, notifications. @defaultValue {@link DEFAULT_REDACT_RULES}
   */
  redact?: RedactRules;
  /**
   * Leave out the readings of a process whose every value (cpu, rss, and what is derived from its
   * rss: see {@link ProcessCpuRss.markDerivedSteady}) repeats the one last given for it, with the
   * same instance. Such a process *holds*: {@link ProcessCpuRss.holds} says so for the round, and
   * {@link ProcessCpuRss.heldChanges} names the processes that began holding and those that
   * exited, for the consumers that take a held process's last values as this round's (the metric
   * history, the rss_growth windows, the rules). Most processes on a host are idle: this is what
   * keeps a round's work proportional to the processes that changed. @defaultValue false
   */
  omitRepeats?: boolean;
}

/** What changed in the set of holding processes in one round (see ProcessCpuRssOptions.omitRepeats). */
export interface HeldChanges {
  /** Processes that held this round and had readings the round before. */
  began: ProcessInstance[];
  /** Processes forgotten this round, holding or not: they exited (or their pid was reused). */
  ended: ProcessInstance[];
}

const STAT_BUFFER_BYTES = 4096;
/** Bytes of a comm in the task iterator's columns (TAIL2_TASK_COMM_LEN). */
const COMM_BYTES = 16;
/** One tracked process's objects (entry, instance, the maps holding them), beyond its strings. */
const ENTRY_OVERHEAD_BYTES = 400;

// Whether `known` holds exactly `bytes[start..end)`: a comm is at most 16 bytes, and a loop over
// them costs less than a call into Buffer.compare.
function sameBytes(known: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (known.length !== end - start) return false;
  for (let i = 0; i < known.length; i++) if (known[i] !== bytes[start + i]) return false;
  return true;
}

function entryBytes(entry: ProcessEntry): number {
  return ENTRY_OVERHEAD_BYTES + 2 * entry.commBytes.length + entry.instance.cmdline.length;
}
const CMDLINE_MAX_BYTES = 4096;

/**
 * Per-process `cpu` (cores over the interval) and `rss` (bytes) for every process in /proc, keyed
 * by pid + start time so a reused pid is a new instance. A process seen for the first time gets an
 * `rss` reading but no `cpu` reading: that needs two samples. Exited processes are forgotten.
 *
 * The command line (its first 4 KiB) is read once per process, and again after an exec, and is
 * redacted as it is read: nothing downstream ever holds the secrets a process was started with.
 *
 * Two sources, the same readings. With `taskStats`, one read of a BPF task iterator per round: the
 * kernel writes a fixed-size record per task and the addon folds threads into processes, ≈ 0.6 µs
 * of CPU per process on this VM, and CPU time in nanoseconds (`se.sum_exec_runtime`, the sum
 * /proc/PID/stat's ticks are scaled to). Without, one readdir of /proc and one pread per process
 * per round, into one preallocated buffer, parsed from bytes (no string per process unless its
 * comm changed): reading the stat files of 1,000 idle processes on this VM, reads alone,
 * readFileSync ≈ 35 ms a round, open + read + close into a reused buffer ≈ 15 ms, a kept fd +
 * pread ≈ 8 ms; that path uses the last. bench/collector-bench.ts times both.
 */
export class ProcessCpuRss {
  private readonly procRoot: string;
  private readonly monotonicMs: () => number;
  private readonly pageBytes: number;
  private readonly readCmdline: (pid: number) => string;
  private readonly cmdlineReader: ((pid: number, startTicks: number) => Promise<string | undefined>) | undefined;
  private readonly redact: RedactRules;
  private readonly taskStats: NativeTaskStats | undefined;
  private maxOpenFiles: number;
  private openFiles = 0;
  private readonly entries = new Map<number, ProcessEntry>();
  private readonly buffer = Buffer.allocUnsafe(STAT_BUFFER_BYTES);
  private readonly parsed: StatFields = { startTime: 0, cpuTicks: 0, rssPages: 0, commStart: 0, commEnd: 0 };
  private readonly cmdlineBuffer = Buffer.allocUnsafe(CMDLINE_MAX_BYTES);
  /** The fd readStat last opened by path, for keepOrClose; -1 when none. */
  private openedFd = -1;
  private round = 0;
  private stateBytes = 0;
  private readonly omitRepeats: boolean;
  private held: HeldChanges = { began: [], ended: [] };

  constructor(options: ProcessCpuRssOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.maxOpenFiles = options.maxOpenFiles ?? 4096;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
    this.pageBytes = options.pageSize ?? pageSize();
    this.redact = options.redact ?? DEFAULT_REDACT_RULES;
    this.readCmdline = options.readCmdline ?? ((pid) => this.readCmdlineFile(pid));
    this.cmdlineReader = options.cmdlineReader;
    this.taskStats = options.taskStats;
    this.omitRepeats = options.omitRepeats ?? false;
  }

  /** Where readings come from: `task-iterator` (BPF) or `proc` (/proc/PID/stat files). */
  get source(): 'task-iterator' | 'proc' {
    return this.taskStats ? 'task-iterator' : 'proc';
  }

  /** Processes currently tracked. */
  get size(): number {
    return this.entries.size;
  }

  /** The instance of the process tracked under `pid` (as of its last reading), if one is. */
  instanceOf(pid: number): ProcessInstance | undefined {
    return this.entries.get(pid)?.instance;
  }

  /**
   * Whether `instance` is a process that held in the last round: tracked, still that instance, and
   * no readings because each value repeats the last given (ProcessCpuRssOptions.omitRepeats).
   */
  holds(instance: ProcessInstance): boolean {
    const entry = this.entries.get(instance.pid);
    return entry !== undefined && entry.instance === instance && entry.heldRound === this.round;
  }

  /** Processes that began holding in the last round, and those forgotten in it (see {@link holds}). */
  heldChanges(): HeldChanges {
    return this.held;
  }

  /** The next round gives every process's readings, whether they repeat or not. */
  giveAll(): void {
    for (const entry of this.entries.values()) entry.givenInstance = undefined;
  }

  /** The next round gives these processes' readings, whether they repeat or not. */
  giveAgain(instances: readonly MetricInstance[]): void {
    for (const instance of instances) {
      if (instance.kind !== 'process') continue;
      const entry = this.entries.get(instance.pid);
      if (entry !== undefined && entry.instance === instance) entry.givenInstance = undefined;
    }
  }

  /**
   * Tells whether the readings the collector derives from `instance`'s rss (rss_growth) would
   * repeat the ones it gave this round while rss repeats: until it says so, the process never holds.
   */
  markDerivedSteady(instance: ProcessInstance, steady: boolean): void {
    const entry = this.entries.get(instance.pid);
    if (entry !== undefined && entry.instance === instance) entry.derivedSteady = steady;
  }

  /** Bytes held for the processes tracked: their entries, comm and command lines. */
  get bytes(): number {
    return this.stateBytes;
  }

  /** One round over every process: appends `cpu` and `rss` readings stamped `timeMs` to `out`. */
  collect(timeMs: number, out: MetricReading[] = []): MetricReading[] {
    if (this.taskStats) {
      let columns: TaskColumns;
      try {
        columns = this.taskStats.read();
      } catch (error) {
        this.beginRound(); // a round with nothing read: no process holds in it
        throw error;
      }
      return this.collectFromIterator(columns, timeMs, out);
    }
    const round = this.beginRound();
    const atMs = this.monotonicMs();
    const names = readdirSync(this.procRoot);
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 0x31 || first > 0x39) continue; // pids start with 1-9; skip "self", "sys", …
      const pid = +name;
      const length = this.readStat(pid);
      if (length > 0) this.ingest(pid, this.buffer, length, atMs, timeMs, out);
      if (this.openedFd >= 0) this.keepOrClose(pid);
    }
    this.endRound(round);
    return out;
  }

  /**
   * One round from a task iterator's columns read at `monotonicMs()` now. Public so tests can feed
   * recorded columns; `collect` calls it with a fresh read.
   */
  collectFromIterator(columns: TaskColumns, timeMs: number, out: MetricReading[] = []): MetricReading[] {
    const round = this.beginRound();
    const atMs = this.monotonicMs();
    const { pids, startNs, cpuNs, rssPages, comms } = columns;
    for (let i = 0; i < columns.count; i++) {
      const commStart = i * COMM_BYTES;
      let commEnd = commStart;
      while (commEnd < commStart + COMM_BYTES && comms[commEnd] !== 0) commEnd++;
      // /proc/PID/stat's start time is the boot-time ns in USER_HZ ticks, rounded down.
      const startTicks = Math.floor(startNs[i] / (1e9 / USER_HZ));
      this.observe(pids[i], startTicks, cpuNs[i] / 1e9, rssPages[i], comms, commStart, commEnd, atMs, timeMs, out);
    }
    this.endRound(round);
    return out;
  }

  /** Starts a round for {@link ingest}; `collect` calls it. */
  beginRound(): number {
    if (this.held.began.length > 0 || this.held.ended.length > 0) this.held = { began: [], ended: [] };
    return ++this.round;
  }

  /**
   * Takes one /proc/PID/stat reading (the bytes in `stat[0..length)`) taken at `atMs` (monotonic).
   * Public so tests can replay recorded stat text; `collect` calls it for every process.
   */
  ingest(pid: number, stat: Buffer, length: number, atMs: number, timeMs: number, out: MetricReading[]): void {
    const p = this.parsed;
    if (!parseStatBytes(stat, length, p)) return;
    this.observe(pid, p.startTime, p.cpuTicks / USER_HZ, p.rssPages, stat, p.commStart, p.commEnd, atMs, timeMs, out);
  }

  // One process's reading from either source: comm is `names[commStart..commEnd)`.
  private observe(
    pid: number,
    startTime: number,
    cpuSeconds: number,
    rssPages: number,
    names: Buffer,
    commStart: number,
    commEnd: number,
    atMs: number,
    timeMs: number,
    out: MetricReading[],
  ): void {
    let entry = this.entries.get(pid);
    if (entry && entry.startTime !== startTime) {
      // Same pid, another process: the old one exited and the pid was reused.
      this.held.ended.push(entry.instance);
      this.forget(entry);
      entry = undefined;
    }
    if (!entry) {
      const comm = names.toString('utf8', commStart, commEnd);
      entry = {
        pid,
        fd: -1,
        startTime,
        cpuSeconds,
        atMs,
        commBytes: Buffer.from(names.subarray(commStart, commEnd)),
        instance: { kind: 'process', pid, startTime, comm, cmdline: this.cmdlineNow(pid) },
        seenRound: this.round,
        givenInstance: undefined,
        givenCores: Number.NaN,
        givenRssBytes: Number.NaN,
        derivedSteady: false,
        heldRound: 0,
      };
      this.entries.set(pid, entry);
      this.stateBytes += entryBytes(entry);
      this.cmdlineLater(entry);
      this.give(entry, Number.NaN, rssPages * this.pageBytes, timeMs, out);
      return;
    }
    const heldLastRound = entry.heldRound === entry.seenRound;
    entry.seenRound = this.round;
    if (!sameBytes(entry.commBytes, names, commStart, commEnd)) {
      // exec() changed the image: a new comm and command line, same process (same key).
      this.stateBytes -= entryBytes(entry);
      entry.commBytes = Buffer.from(names.subarray(commStart, commEnd));
      entry.instance = { ...entry.instance, comm: entry.commBytes.toString('utf8'), cmdline: this.cmdlineNow(pid) };
      this.stateBytes += entryBytes(entry);
      this.cmdlineLater(entry);
    }
    const elapsedMs = atMs - entry.atMs;
    let cores = Number.NaN;
    if (elapsedMs > 0) {
      const spent = cpuSeconds - entry.cpuSeconds;
      cores = spent > 0 ? spent / (elapsedMs / 1000) : 0;
      entry.cpuSeconds = cpuSeconds;
      entry.atMs = atMs;
    }
    const rssBytes = rssPages * this.pageBytes;
    if (this.omitRepeats && entry.derivedSteady && entry.instance === entry.givenInstance && cores === entry.givenCores && rssBytes === entry.givenRssBytes) {
      entry.heldRound = this.round;
      if (!heldLastRound) this.held.began.push(entry.instance);
      return;
    }
    this.give(entry, cores, rssBytes, timeMs, out);
  }

  // The process's readings this round (no cpu when `cores` is NaN: a rate needs two readings),
  // remembered as the ones last given.
  private give(entry: ProcessEntry, cores: number, rssBytes: number, timeMs: number, out: MetricReading[]): void {
    if (!Number.isNaN(cores)) out.push({ metric: 'cpu', instance: entry.instance, value: cores, timeMs });
    out.push({ metric: 'rss', instance: entry.instance, value: rssBytes, timeMs });
    entry.givenInstance = entry.instance;
    entry.givenCores = cores;
    entry.givenRssBytes = rssBytes;
    entry.derivedSteady = false;
  }

  /** Forgets processes not seen since `beginRound` returned `round` (they exited). */
  endRound(round: number): void {
    for (const entry of this.entries.values()) {
      if (entry.seenRound === round) continue;
      this.held.ended.push(entry.instance);
      this.forget(entry);
    }
  }

  /** Closes every kept fd, forgets every process, and detaches the task iterator. */
  close(): void {
    for (const entry of this.entries.values()) this.forget(entry);
    this.taskStats?.close();
  }

  // Reads /proc/PID/stat into this.buffer: through the kept fd when there is one (it fails with
  // ESRCH once that process is gone, even if the pid was reused), else by path, leaving the fd it
  // opened in this.openedFd for keepOrClose. Returns the byte count, or 0 when the process is gone.
  private readStat(pid: number): number {
    const entry = this.entries.get(pid);
    if (entry && entry.fd >= 0) {
      try {
        return readSync(entry.fd, this.buffer, 0, STAT_BUFFER_BYTES, 0);
      } catch {
        this.closeFd(entry);
      }
    }
    let fd: number;
    try {
      fd = openSync(`${this.procRoot}/${pid}/stat`, 'r');
    } catch (error) {
      // Out of fds: keep fewer open from now on, leaving room for everything else in the daemon.
      if ((error as NodeJS.ErrnoException).code === 'EMFILE') this.maxOpenFiles = Math.max(0, this.openFiles - 64);
      return 0; // or it exited between readdir and open
    }
    this.openedFd = fd;
    try {
      return readSync(fd, this.buffer, 0, STAT_BUFFER_BYTES, 0);
    } catch {
      return 0;
    }
  }

  // The fd readStat opened by path: kept by the process's entry while the budget allows, else closed.
  private keepOrClose(pid: number): void {
    const fd = this.openedFd;
    this.openedFd = -1;
    const entry = this.entries.get(pid);
    if (entry && entry.fd < 0 && this.openFiles < this.maxOpenFiles) {
      entry.fd = fd;
      this.openFiles++;
    } else {
      closeSync(fd);
    }
  }

  private closeFd(entry: ProcessEntry): void {
    if (entry.fd < 0) return;
    closeSync(entry.fd);
    entry.fd = -1;
    this.openFiles--;
  }

  // The command line known at once: read here unless a reader elsewhere answers later.
  private cmdlineNow(pid: number): string {
    return this.cmdlineReader ? '' : this.readCmdline(pid);
  }

  // Asks the reader elsewhere; its answer becomes the entry's instance (a new object: readings and
  // rules hold instances as facts of a moment) if the entry is still that process, that image.
  private cmdlineLater(entry: ProcessEntry): void {
    if (!this.cmdlineReader) return;
    const asked = entry.instance;
    void this.cmdlineReader(entry.pid, entry.startTime).then((cmdline) => {
      if (cmdline === undefined || this.entries.get(entry.pid) !== entry || entry.instance !== asked) return;
      this.stateBytes -= entryBytes(entry);
      entry.instance = { ...asked, cmdline };
      this.stateBytes += entryBytes(entry);
    });
  }

  private forget(entry: ProcessEntry): void {
    this.stateBytes -= entryBytes(entry);
    this.closeFd(entry);
    this.entries.delete(entry.pid);
  }

  // NUL-separated argv -> one redacted line; '' for kernel threads and processes already gone.
  // Redacted before the NULs become spaces: they are the exact argument boundaries.
  private readCmdlineFile(pid: number): string {
    let fd: number;
    try {
      fd = openSync(`${this.procRoot}/${pid}/cmdline`, 'r');
    } catch {
      return '';
    }
    try {
      const length = readSync(fd, this.cmdlineBuffer, 0, CMDLINE_MAX_BYTES, 0);
      return redactCommandLine(this.cmdlineBuffer.toString('utf8', 0, length), this.redact);
    } catch {
      return '';
    } finally {
      closeSync(fd);
    }
  }
}
