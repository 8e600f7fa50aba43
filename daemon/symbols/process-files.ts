import { unwindRowsProblem, UNWIND_ROW_BYTES, type UnwindSegment, type UnwindTableStats } from '../model/unwind-table.js';
import { ReaderError, ReaderProcess, type ReaderProcessStats } from './reader-process.js';
import { mappingCacheKey, snapshotBytes, startTicksOf, type ExecutableMapping, type ProcessSnapshot } from './proc-maps.js';
import { SymbolProblems, type SymbolProblemsView } from './symbol-problems.js';

/** One frame of a native lookup, innermost first. */
export interface NativeSymbolFrame {
  name: string;
  file?: string;
  line?: number;
  inlined: boolean;
}

export interface NativeModuleInfo {
  buildId?: string;
  hasSymbols: boolean;
  hasDwarf: boolean;
  debugFile?: string;
}

/** One file's unwind table as tail2-reader compiled it (native/reader/unwind-table.h), rows checked. */
export interface ReaderUnwindTable {
  /** The ELF virtual address the rows' `pc` are offsets from. */
  base: number;
  /** Rows exactly as bpf/unwind.h lays them out, sorted, rule types in range. */
  rows: Buffer;
  segments: UnwindSegment[];
  /** Lower-case hex; absent when the file has none. */
  buildId?: string;
  stats: UnwindTableStats;
}

/** The reader's own vDSO's table: the image every 64-bit process on the host maps as `[vdso]`. */
export interface ReaderVdsoTable extends ReaderUnwindTable {
  /** Bytes of the image, from its ELF headers. */
  imageBytes: number;
  /** FNV-1a 64 of the image, hex: names it when it has no build ID. */
  imageHash: string;
}

export interface ProcessFilesOptions {
  /** Host directories holding debug files (`.build-id/xx/yyyy.debug`, debuglink names). @defaultValue ['/usr/lib/debug'] */
  debugDirectories?: readonly string[];
  /** Binaries and debug files larger than this are not read. @defaultValue 2 GiB */
  maxDebugFileBytes?: number;
  /** At most this much of a perf map is read (its newest part). @defaultValue 256 MiB */
  maxPerfMapBytes?: number;
  /** One file's work (open, parse, lookups) past this kills the reader. @defaultValue 10 s */
  fileTimeBudgetMs?: number;
  /** Memory each reader process may allocate (RLIMIT_DATA). @defaultValue 1 GiB */
  maxReaderMemoryBytes?: number;
  /** Bytes of a command line kept. @defaultValue 4096 */
  maxCmdlineBytes?: number;
  /**
   * Turns a command line as the kernel keeps it (arguments separated by NUL) into the line tail2
   * keeps, before anything keeps it: redacting secrets (daemon/redact/). @defaultValue joins the
   * arguments with spaces
   */
  redactCmdline?: (rawCmdline: string) => string;
  /** Reader processes for symbols; files are spread over them by cache key. @defaultValue 2 */
  symbolReaders?: number;
  /** Snapshots waiting for the reader past this are skipped (a fork storm). @defaultValue 1024 */
  maxPendingSnapshots?: number;
  /** Told when a reader had to be killed or died. */
  onReaderRestart?: (reason: string) => void;
}

export interface ProcessFilesStatus {
  problems: SymbolProblemsView;
  /** Files not read again (until the time given) after they overran the budget or crashed the reader. */
  quarantined: number;
  snapshots: { taken: number; gone: number; skipped: number; pending: number };
  readers: ReaderProcessStats[];
}

/** How long a file that hung or crashed the reader is left alone. */
const QUARANTINE_MS = 10 * 60_000;
/** A /proc snapshot is small; one that takes this long waits on the process's memory lock. */
const SNAPSHOT_TIMEOUT_MS = 2000;
const DEFAULT_DEBUG_DIRECTORIES = ['/usr/lib/debug'];
/** Reader codes after which a file is not tried again for a while: it costs the budget each time. */
const QUARANTINE_CODES = new Set(['ETIMEDOUT', 'ECRASHED', 'ECHANGED', 'ENOMEM']);

type Tuple = [number, number, number, number, number, number, string];

interface SnapshotAnswer {
  cmdline: string;
  mappings: Tuple[];
  namespace_pid: number;
  uid: number;
  euid: number;
  shares_root: boolean;
}

interface UnwindTableAnswer {
  base: number;
  rows: number;
  rows_base64: string;
  segments: UnwindSegment[];
  build_id: string;
  stats: Omit<UnwindTableStats, 'rows'>;
  image_bytes?: number;
  image_hash?: string;
}

/** The reader's answer when a file has no CFI at all: a normal case (stripped of .eh_frame), not a problem. */
const NO_CFI = new Set(['ENOCFI']);
/** Rows one table may have at most (8 bytes each): a hostile file's CFI bounds the work and the answer. */
const DEFAULT_MAX_UNWIND_ROWS = 4 << 20;
/** Key under which the vDSO's requests are spread, quarantined and counted. */
const VDSO_KEY = 'vdso';

interface SymbolizeAnswer {
  stacks: Array<Array<[number, number, number, number]>>;
  strings: string[];
  refused: Array<{ code: string; message: string }>;
}

/**
 * Everything tail2 reads that a profiled process controls — /proc/PID/maps and cmdline, its
 * binaries and their debug files, its perf map — read by tail2-reader processes
 * (native/reader/), never on the daemon's event loop and never in the daemon's address space.
 * The reader opens only regular files, inside the process's root, that are the inodes it mapped
 * (docs/security.md); here each request gets a time budget, a file that overran it (or crashed a
 * reader) is quarantined, and every refusal is counted for `tail2 status`.
 */
export class ProcessFiles {
  private readonly proc: ReaderProcess;
  private readonly symbolReaders: ReaderProcess[];
  private readonly problems = new SymbolProblems();
  private readonly quarantine = new Map<string, number>();
  private readonly snapshotCounts = { taken: 0, gone: 0, skipped: 0 };
  private pendingSnapshots = 0;
  private readonly inFlightSnapshots = new Map<string, Promise<ProcessSnapshot | undefined>>();
  private readonly budgetMs: number;
  private readonly maxCmdlineBytes: number;
  private readonly maxPerfMapBytes: number;
  private readonly maxPendingSnapshots: number;
  private readonly redact: (cmdline: string) => string;

  constructor(options: ProcessFilesOptions = {}) {
    this.budgetMs = options.fileTimeBudgetMs ?? 10_000;
    this.maxCmdlineBytes = options.maxCmdlineBytes ?? 4096;
    this.maxPerfMapBytes = options.maxPerfMapBytes ?? 256 << 20;
    this.maxPendingSnapshots = options.maxPendingSnapshots ?? 1024;
    this.redact = options.redactCmdline ?? ((raw) => raw.replaceAll('\0', ' '));
    const args: string[] = [];
    for (const dir of options.debugDirectories ?? DEFAULT_DEBUG_DIRECTORIES) args.push('--debug-dir', dir);
    args.push('--max-file-size', String(options.maxDebugFileBytes ?? 2 ** 31));
    args.push('--max-memory', String(options.maxReaderMemoryBytes ?? 2 ** 30));
    const onRestart = options.onReaderRestart;
    this.proc = new ReaderProcess({ args, timeoutMs: SNAPSHOT_TIMEOUT_MS, onRestart });
    this.symbolReaders = Array.from({ length: Math.max(1, options.symbolReaders ?? 2) }, () => new ReaderProcess({ args, timeoutMs: this.budgetMs, onRestart }));
  }

  /**
   * Reads what symbolization needs of a live process (pid and its start time on the boot clock, in
   * ns, as the BPF record has it); undefined when it is gone, or when too many wait already.
   */
  snapshot(pid: number, startTimeNs?: number): Promise<ProcessSnapshot | undefined> {
    if (pid <= 0) return Promise.resolve(undefined);
    // A new process is asked for twice at once (the stack tables, for symbols, and the unwind
    // loader, for its tables), from the same batch: one read serves both.
    const key = `${pid}:${startTimeNs ?? ''}`;
    const pending = this.inFlightSnapshots.get(key);
    if (pending) return pending;
    const read = this.readSnapshot(pid, startTimeNs).finally(() => this.inFlightSnapshots.delete(key));
    this.inFlightSnapshots.set(key, read);
    return read;
  }

  private async readSnapshot(pid: number, startTimeNs?: number): Promise<ProcessSnapshot | undefined> {
    if (this.pendingSnapshots >= this.maxPendingSnapshots) {
      this.snapshotCounts.skipped++;
      return undefined;
    }
    const startTicks = startTimeNs !== undefined ? startTicksOf(startTimeNs) : 0;
    this.pendingSnapshots++;
    try {
      const answer = await this.proc.request<SnapshotAnswer>({
        op: 'snapshot',
        process: { pid, start_ticks: startTicks },
        max_cmdline_bytes: this.maxCmdlineBytes,
      });
      this.snapshotCounts.taken++;
      const mappings = answer.mappings.map(([start, end, offset, devMajor, devMinor, inode, path]): ExecutableMapping => ({
        start,
        end,
        offset,
        path,
        devMajor,
        devMinor,
        inode,
        cacheKey: inode !== 0 && path.startsWith('/') ? mappingCacheKey(devMajor, devMinor, inode, path) : '',
      }));
      const cmdline = this.redact(answer.cmdline).slice(0, this.maxCmdlineBytes);
      return {
        pid,
        startTicks,
        cmdline,
        mappings,
        namespacePid: answer.namespace_pid,
        uid: answer.uid,
        euid: answer.euid,
        sharesRoot: answer.shares_root,
        bytes: snapshotBytes(cmdline, mappings),
      };
    } catch (error) {
      const code = (error as ReaderError).code;
      if (code === 'EGONE') this.snapshotCounts.gone++;
      else this.problems.record(`/proc/${pid}`, code ?? 'EREADER', (error as Error).message);
      return undefined;
    } finally {
      this.pendingSnapshots--;
    }
  }

  /**
   * A live process's command line alone (redacted, at most `maxCmdlineBytes`), for the metric
   * collectors; undefined when it is gone (or its pid now names another process: `startTicks`).
   */
  async cmdline(pid: number, startTicks: number): Promise<string | undefined> {
    try {
      const answer = await this.proc.request<{ cmdline: string }>({ op: 'cmdline', process: { pid, start_ticks: startTicks }, max_cmdline_bytes: this.maxCmdlineBytes });
      return this.redact(answer.cmdline).slice(0, this.maxCmdlineBytes);
    } catch (error) {
      const code = (error as ReaderError).code;
      if (code !== 'EGONE') this.problems.record(`/proc/${pid}/cmdline`, code ?? 'EREADER', (error as Error).message);
      return undefined;
    }
  }

  /**
   * Symbolizes file offsets of one mapped file, opened through `process` (a process that maps it).
   * Rejects with a {@link ReaderError}; the problem is recorded (and the file quarantined when it
   * overran its budget or crashed the reader).
   */
  async symbolize(process: ProcessSnapshot, mapping: ExecutableMapping, fileOffsets: readonly number[]): Promise<NativeSymbolFrame[][]> {
    const answer = await this.fileRequest<SymbolizeAnswer>(process, mapping, { op: 'symbolize', offsets: fileOffsets });
    const { strings } = answer;
    return answer.stacks.map((stack) =>
      stack.map(([name, file, line, inlined]): NativeSymbolFrame => {
        const frame: NativeSymbolFrame = { name: strings[name] ?? '[unknown]', inlined: inlined === 1 };
        if (file >= 0 && strings[file] !== undefined) frame.file = strings[file];
        if (line > 0) frame.line = line;
        return frame;
      }),
    );
  }

  /** What one mapped file carries: build ID, symbols, DWARF, the debug file found for it. */
  async moduleInfo(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<NativeModuleInfo> {
    const answer = await this.fileRequest<{ build_id: string; has_symbols: boolean; has_dwarf: boolean; debug_file: string }>(process, mapping, { op: 'module_info' });
    const info: NativeModuleInfo = { hasSymbols: answer.has_symbols, hasDwarf: answer.has_dwarf };
    if (answer.build_id) info.buildId = answer.build_id;
    if (answer.debug_file) info.debugFile = answer.debug_file;
    return info;
  }

  /**
   * The file offsets of the functions named `names` that one mapped file defines (global or weak
   * STT_FUNC symbols): where uprobes on them go. Names it does not define are absent.
   */
  async functionOffsets(process: ProcessSnapshot, mapping: ExecutableMapping, names: readonly string[]): Promise<Map<string, number>> {
    const answer = await this.fileRequest<{ offsets: Record<string, number> }>(process, mapping, { op: 'function_offsets', names });
    return new Map(Object.entries(answer.offsets));
  }

  /**
   * The code `process` runs for each function named `names` in one mapped file: for an IFUNC
   * (glibc's memcpy, memmove…), the version its resolver chose in this process, read from the
   * process's GOT (native/reader/ifunc-targets.h); for a plain function, its own offset. File
   * offsets, where uprobes go; `ifuncs` says which names were IFUNCs. Names the file lacks are absent.
   */
  async resolvedFunctions(process: ProcessSnapshot, mapping: ExecutableMapping, names: readonly string[]): Promise<{ offsets: Map<string, number>; ifuncs: Set<string> }> {
    const answer = await this.fileRequest<{ offsets: Record<string, number>; ifuncs: string[] }>(process, mapping, { op: 'resolved_functions', names, mapping_offset: mapping.offset });
    return { offsets: new Map(Object.entries(answer.offsets)), ifuncs: new Set(answer.ifuncs) };
  }

  /**
   * The GNU build ID of one mapped file (lower-case hex), undefined when it has none: read from
   * its notes alone, without opening its DWARF (or from the module if the reader has it open).
   */
  async buildId(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<string | undefined> {
    const answer = await this.fileRequest<{ build_id: string }>(process, mapping, { op: 'build_id' });
    return answer.build_id || undefined;
  }

  /**
   * Compiles the unwind table of one mapped file (its .eh_frame, and .debug_frame from the file or
   * its debug file) through `process`, a process that maps it; undefined when the file has no CFI
   * at all. At most `maxRows` rows (default 4 Mi). Rejects with a {@link ReaderError} like
   * {@link symbolize} (recorded, quarantined on ETIMEDOUT/ECRASHED/…), with EBADCFI when the file's
   * CFI was refused as corrupt or hostile (native/reader/unwind-table.cc), and with EBADTABLE when
   * the rows the reader sent are not a valid table.
   */
  async unwindTable(process: ProcessSnapshot, mapping: ExecutableMapping, maxRows = DEFAULT_MAX_UNWIND_ROWS): Promise<ReaderUnwindTable | undefined> {
    let answer: UnwindTableAnswer;
    try {
      answer = await this.fileRequest<UnwindTableAnswer>(process, mapping, { op: 'unwind_table', max_rows: maxRows }, NO_CFI);
    } catch (error) {
      if (error instanceof ReaderError && NO_CFI.has(error.code)) return undefined;
      throw error;
    }
    return this.checkedTable(answer, mapping.cacheKey, mapping.path);
  }

  /**
   * Compiles the unwind table of the vDSO (the reader's own, which is the image every 64-bit
   * process on this host maps as `[vdso]`); undefined when it has no CFI. Rejects as
   * {@link unwindTable} does; problems are recorded under `[vdso]`.
   */
  async vdsoUnwindTable(maxRows = DEFAULT_MAX_UNWIND_ROWS): Promise<ReaderVdsoTable | undefined> {
    if (this.quarantined(VDSO_KEY)) throw new ReaderError('EQUARANTINED', 'the vDSO is not read again yet: it overran its time budget or crashed the reader a little while ago');
    let answer: UnwindTableAnswer;
    try {
      answer = await this.readerFor(VDSO_KEY).request<UnwindTableAnswer>({ op: 'vdso_unwind_table', max_rows: maxRows });
    } catch (error) {
      if (error instanceof ReaderError && NO_CFI.has(error.code)) return undefined;
      this.failed(VDSO_KEY, '[vdso]', error);
      throw error;
    }
    return { ...this.checkedTable(answer, VDSO_KEY, '[vdso]'), imageBytes: answer.image_bytes ?? 0, imageHash: answer.image_hash ?? '' };
  }

  /**
   * Names of JIT code from the process's /tmp/perf-PID.map, one per address (undefined where no
   * line covers it); all undefined when there is no map it may read.
   */
  async perfMapNames(process: ProcessSnapshot, addresses: readonly number[]): Promise<Array<string | undefined>> {
    const key = `perf-map:${process.pid}:${process.startTicks}`;
    const none = addresses.map(() => undefined);
    if (addresses.length === 0 || this.quarantined(key)) return none;
    const file = `/tmp/perf-${process.namespacePid}.map (pid ${process.pid})`;
    try {
      const answer = await this.readerFor(key).request<{ names: string[]; name_of_address: number[]; truncated: boolean }>({
        op: 'perf_map',
        process: { pid: process.pid, start_ticks: process.startTicks, shares_root: process.sharesRoot },
        namespace_pid: process.namespacePid,
        uid: process.uid,
        euid: process.euid,
        addresses,
        max_bytes: this.maxPerfMapBytes,
      });
      if (answer.truncated) this.problems.record(file, 'ETRUNCATED', `longer than symbols.max_perf_map_size: only its last ${this.maxPerfMapBytes} bytes were read`);
      return answer.name_of_address.map((index) => (index >= 0 ? answer.names[index] : undefined));
    } catch (error) {
      this.failed(key, file, error);
      return none;
    }
  }

  /** Demangles C++ and Rust names the way symbols are demangled. */
  async demangle(names: readonly string[]): Promise<string[]> {
    return (await this.symbolReaders[0].request<{ names: string[] }>({ op: 'demangle', names })).names;
  }

  status(nowMs = Date.now()): ProcessFilesStatus {
    for (const [key, until] of this.quarantine) if (until <= nowMs) this.quarantine.delete(key);
    return {
      problems: this.problems.view(),
      quarantined: this.quarantine.size,
      snapshots: { ...this.snapshotCounts, pending: this.pendingSnapshots },
      readers: [this.proc, ...this.symbolReaders].map((reader) => reader.stats()),
    };
  }

  /** Stops the reader processes; pending requests reject with ECLOSED. */
  close(): void {
    this.proc.close();
    for (const reader of this.symbolReaders) reader.close();
  }

  /** The rows of an answer decoded and checked: the reader reads hostile files, its answers are checked too. */
  private checkedTable(answer: UnwindTableAnswer, key: string, file: string): ReaderUnwindTable {
    const rows = Buffer.from(answer.rows_base64, 'base64');
    const problem = rows.length !== answer.rows * UNWIND_ROW_BYTES ? `${rows.length} bytes of rows for ${answer.rows} rows` : unwindRowsProblem(rows);
    if (problem !== undefined) {
      const error = new ReaderError('EBADTABLE', `the reader's unwind table of '${file}' is not valid: ${problem}`);
      this.failed(key, file, error);
      throw error;
    }
    const table: ReaderUnwindTable = { base: answer.base, rows, segments: answer.segments, stats: { ...answer.stats, rows: answer.rows } };
    if (answer.build_id) table.buildId = answer.build_id;
    return table;
  }

  /** `expected`: codes that are answers rather than problems (rethrown, not recorded). */
  private async fileRequest<T>(process: ProcessSnapshot, mapping: ExecutableMapping, body: Record<string, unknown>, expected?: ReadonlySet<string>): Promise<T> {
    const key = mapping.cacheKey;
    if (this.quarantined(key)) throw new ReaderError('EQUARANTINED', `'${mapping.path}' is not read again yet: it overran its time budget or crashed the reader a little while ago`);
    try {
      const answer = await this.readerFor(key).request<T & { refused?: Array<{ code: string; message: string }> }>({
        ...body,
        key,
        process: { pid: process.pid, start_ticks: process.startTicks, shares_root: process.sharesRoot },
        file: { path: mapping.path, dev_major: mapping.devMajor, dev_minor: mapping.devMinor, inode: mapping.inode, start: mapping.start, end: mapping.end },
      });
      for (const refused of answer.refused ?? []) this.problems.record(mapping.path, refused.code, refused.message);
      return answer;
    } catch (error) {
      if (!(error instanceof ReaderError && expected?.has(error.code))) this.failed(key, mapping.path, error);
      throw error;
    }
  }

  private failed(key: string, file: string, error: unknown): void {
    const code = error instanceof ReaderError ? error.code : 'EREADER';
    this.problems.record(file, code, (error as Error).message);
    if (QUARANTINE_CODES.has(code)) this.quarantine.set(key, Date.now() + QUARANTINE_MS);
  }

  private quarantined(key: string): boolean {
    const until = this.quarantine.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.quarantine.delete(key);
    return false;
  }

  /** The same file always goes to the same reader, so each reader caches its own share. */
  private readerFor(key: string): ReaderProcess {
    let hash = 0;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    return this.symbolReaders[Math.abs(hash) % this.symbolReaders.length];
  }
}
