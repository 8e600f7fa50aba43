import type { ProcessEvents } from '../model/process-events.js';
import { UNWIND_ROW_BYTES, type UnwindTable } from '../model/unwind-table.js';
import type { UnwindMapWriter } from '../sampler/stack-sampler.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';
import { RangeAllocator } from './range-allocator.js';

/** Where tables come from (daemon/unwind/unwind-tables.ts, through tail2-reader). */
export interface UnwindTableSource {
  /** The table of one mapped file; undefined when it has none (no CFI). Rejects on a read failure. */
  tableFor(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<UnwindTable | undefined>;
  /** The vDSO's table (the same image in every process). */
  vdsoTable(): Promise<UnwindTable | undefined>;
}

export interface UnwindLoaderOptions {
  maps: UnwindMapWriter;
  tables: UnwindTableSource;
  /** Reads a live process's mappings (ProcessFiles.snapshot). */
  snapshot: (pid: number, startTimeNs: number) => Promise<ProcessSnapshot | undefined>;
  /**
   * Whether the process still runs (process-alive.ts): checked right after a process is
   * installed, because one that exited before its entry existed sends no exit record.
   */
  alive: (pid: number, startTimeNs: bigint) => boolean;
  /** Processes being learned at once; the rest wait their turn. @defaultValue 2 */
  concurrency?: number;
  /** Processes waiting to be learned past which new ones are dropped (their next sample asks again). @defaultValue 4096 */
  maxQueued?: number;
  /**
   * Least time between two refreshes of one process's mappings (an address outside them). Short,
   * because a process often loads libraries right after its first sample (dlopen at start-up);
   * doubles, up to a minute, each time a refresh finds the same mappings (a stack that walks into
   * garbage). @defaultValue 250 ms
   */
  refreshIntervalMs?: number;
  /** How long a process whose mappings could not be read is left alone. @defaultValue 10000 ms */
  retryAfterMs?: number;
  now?: () => number;
  /** Told of a fault of the loader's own (tail2d logs it); the loader goes on. */
  onError?: (error: Error) => void;
}

/** What `tail2 status` shows of the tables (see docs/api.md, `unwinding`). */
export interface UnwindLoaderStatus {
  processes: number;
  files: number;
  /** Files whose table is loaded but which no process maps now (kept until memory is needed). */
  unusedFiles: number;
  rows: { used: number; capacity: number };
  mappings: { used: number; capacity: number };
  processCapacity: number;
  /** Processes learned, refreshes of their mappings, failures to read them. */
  learned: number;
  refreshed: number;
  failed: number;
  queued: number;
  /** Files whose table did not fit the rows left (walked by frame pointer; each file once), and evictions. */
  filesWithoutRoom: number;
  filesEvicted: number;
  processesEvicted: number;
  /** Files read that have no CFI, and table reads that failed. */
  filesWithoutTables: number;
  tableErrors: number;
  /** Processes with more mappings than MAX_PROCESS_MAPPINGS: the rest are walked by frame pointer. */
  mappingsCapped: number;
  /** Faults of the loader's own bookkeeping, reported through `onError`. */
  internalErrors: number;
}

interface LoadedFile {
  key: string;
  first: number;
  count: number;
  base: number;
  segments: UnwindTable['segments'];
  /** Processes whose mappings use it. */
  refs: number;
  lastUsedMs: number;
}

interface KnownProcess {
  pid: number;
  startTimeNs: bigint;
  first: number;
  count: number;
  files: string[];
  learnedAtMs: number;
  /** The mappings' extents: a refresh that finds the same ones backs off. */
  signature: string;
  refreshIntervalMs: number;
}

const VDSO_KEY = '[vdso]';
/** What {@link UnwindLoader.tableKeyOf} holds for a file that has no table: it is not read again. */
const NO_TABLE = '';
/**
 * Mappings installed per process (the BPF side takes up to TAIL2_MAX_PROCESS_MAPPINGS, 4096):
 * real processes have 10–200 after merging; a process that maps one file thousands of times must
 * not take every other process's room.
 */
const MAX_PROCESS_MAPPINGS = 1024;
const MAX_FILE_ROWS = 1 << 24; // TAIL2_MAX_FILE_ROWS
/**
 * Tables remembered as not fitting, so that a file counts once in `filesWithoutRoom` however often
 * its processes are read again (every exec, every new mapping). Past this many, each try counts.
 */
const WITHOUT_ROOM_KEYS = 4096;
const MAX_REFRESH_INTERVAL_MS = 60_000;

/**
 * Keeps the BPF walk's maps (bpf/user-stack.h) in step with the processes it samples. A process
 * is learned from its first sample (the walk flags it as having no tables): its mappings are
 * read, each mapped file's table loaded once into the rows map and shared by every process that
 * maps it, and its mappings written. An address outside them (dlopen) reads them again, at most
 * every `refreshIntervalMs`; exec and exit (records from the BPF side) free them.
 *
 * When rows run short, tables no process uses go first, oldest first; a table that still does
 * not fit leaves its file to frame pointers, counted. When the processes map is full, the process
 * learned longest ago makes room.
 */
export class UnwindLoader implements ProcessEvents {
  private readonly rows: RangeAllocator;
  private readonly mappings: RangeAllocator;
  private readonly files = new Map<string, LoadedFile>();
  /** A mapping's cache key (device, inode, path) → its table's key: a file mapped again costs no read. */
  private readonly tableKeyOf = new Map<string, string>();
  private readonly processes = new Map<number, KnownProcess>();
  /** pid → start time of processes queued or being learned. */
  private readonly wanted = new Map<number, bigint>();
  private readonly queue: Array<{ pid: number; startTimeNs: bigint }> = [];
  /** `pid:start` → when it may be tried again (after a failure, or a refresh). */
  private readonly notBefore = new Map<string, number>();
  /** `pid:start` of processes that exec'd or exited while being learned. */
  private readonly cancelled = new Set<string>();
  private running = 0;
  private closed = false;
  private readonly withoutRoom = new Set<string>();
  private readonly counts = { learned: 0, refreshed: 0, failed: 0, filesWithoutRoom: 0, filesEvicted: 0, processesEvicted: 0, filesWithoutTables: 0, tableErrors: 0, mappingsCapped: 0, internalErrors: 0 };
  private readonly now: () => number;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly refreshIntervalMs: number;
  private readonly retryAfterMs: number;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: UnwindLoaderOptions) {
    this.rows = new RangeAllocator(options.maps.capacity.rows);
    this.mappings = new RangeAllocator(options.maps.capacity.mappings);
    this.now = options.now ?? Date.now;
    this.concurrency = options.concurrency ?? 2;
    this.maxQueued = options.maxQueued ?? 4096;
    this.refreshIntervalMs = options.refreshIntervalMs ?? 250;
    this.retryAfterMs = options.retryAfterMs ?? 10_000;
  }

  tablesWanted(pid: number, startTimeNs: bigint, unknownMapping: boolean): void {
    if (this.closed || pid <= 0 || this.wanted.get(pid) === startTimeNs) return;
    const known = this.processes.get(pid);
    // Known with these mappings: only an address outside them is news (and then not too often).
    if (known && known.startTimeNs === startTimeNs && !unknownMapping) return;
    const key = `${pid}:${startTimeNs}`;
    const until = this.notBefore.get(key);
    if (until !== undefined) {
      if (until > this.now()) return;
      this.notBefore.delete(key);
    }
    if (this.queue.length >= this.maxQueued) return;
    this.wanted.set(pid, startTimeNs);
    this.queue.push({ pid, startTimeNs });
    this.pump();
  }

  gone(pid: number, startTimeNs: bigint): void {
    // Called from the ingest of a batch: nothing here may cost the batch its samples.
    try {
      // Being learned now: what is read is already stale, so it is not installed.
      if (this.wanted.get(pid) === startTimeNs) this.cancelled.add(`${pid}:${startTimeNs}`);
      const known = this.processes.get(pid);
      // The BPF side deleted its entry at the exec or exit; one there now was installed after it
      // (mappings read once the exec was done, its record still on the way): deleted too, so the
      // next sample asks again rather than walking with mappings the loader no longer holds.
      if (known && known.startTimeNs === startTimeNs) this.forget(known, true);
      this.notBefore.delete(`${pid}:${startTimeNs}`);
    } catch (error) {
      this.internalError(error);
    }
  }

  /**
   * A fault of the loader's own bookkeeping (a bug): counted and reported, never thrown into the
   * ingest or left as an unhandled rejection, which would cost samples or the daemon.
   */
  private internalError(error: unknown): void {
    this.counts.internalErrors++;
    this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * Drops processes that are gone without the BPF side saying so (an exit record lost to a full
   * ring buffer): `alive` says whether a pid still runs with that start time.
   */
  sweep(alive: (pid: number, startTimeNs: bigint) => boolean): number {
    let dropped = 0;
    for (const known of [...this.processes.values()]) {
      if (alive(known.pid, known.startTimeNs)) continue;
      this.forget(known, true);
      dropped++;
    }
    const nowMs = this.now();
    for (const [key, until] of this.notBefore) if (until <= nowMs) this.notBefore.delete(key);
    return dropped;
  }

  /** Resolves once nothing is queued or being learned (tests, `tail2 record`'s start). */
  async idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Whether the walk has tables for this process now. */
  knows(pid: number): boolean {
    return this.processes.has(pid);
  }

  status(): UnwindLoaderStatus {
    let unusedFiles = 0;
    for (const file of this.files.values()) if (file.refs === 0) unusedFiles++;
    return {
      processes: this.processes.size,
      files: this.files.size,
      unusedFiles,
      rows: { used: this.rows.used, capacity: this.rows.capacity },
      mappings: { used: this.mappings.used, capacity: this.mappings.capacity },
      processCapacity: this.options.maps.capacity.processes,
      queued: this.queue.length,
      ...this.counts,
    };
  }

  /** Stops learning; what is loaded stays until the sampler's maps go with it. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.wanted.clear();
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.running++;
      void this.learn(next.pid, next.startTimeNs)
        .catch((error: unknown) => this.internalError(error))
        .finally(() => {
        this.running--;
        if (this.wanted.get(next.pid) === next.startTimeNs) this.wanted.delete(next.pid);
        this.pump();
        if (this.running === 0 && this.queue.length === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      });
    }
  }

  private async learn(pid: number, startTimeNs: bigint): Promise<void> {
    const key = `${pid}:${startTimeNs}`;
    let snapshot: ProcessSnapshot | undefined;
    try {
      snapshot = await this.options.snapshot(pid, Number(startTimeNs));
    } catch {
      snapshot = undefined; // ProcessFiles records its own failures
    }
    if (this.closed) return;
    // Exec'd or exited meanwhile: what was read is stale. Not a failure, and nothing holds the
    // new image back: its next sample asks again.
    if (this.cancelled.delete(key)) return;
    if (!snapshot) {
      this.counts.failed++;
      this.notBefore.set(key, this.now() + this.retryAfterMs);
      return;
    }
    const entries: bigint[] = [];
    const files: string[] = [];
    const sorted = [...snapshot.mappings].sort((a, b) => a.start - b.start);
    for (const mapping of sorted) {
      const file = await this.fileFor(snapshot, mapping);
      if (this.closed) {
        if (file) this.unref(file.key);
        for (const used of files) this.unref(used);
        return;
      }
      const bias = file ? biasOf(mapping, file) : undefined;
      const last = entries.length - 5;
      if (file && bias !== undefined) {
        const wrapped = BigInt.asUintN(64, bias);
        // The same file's text split in two mappings (an mprotect): one entry.
        if (last >= 0 && entries[last + 1] === BigInt(mapping.start) && entries[last + 2] === wrapped && entries[last + 3] === BigInt(file.first) && entries[last + 4] === BigInt(file.count)) {
          entries[last + 1] = BigInt(mapping.end);
          this.unref(file.key);
          continue;
        }
        if (entries.length / 5 >= MAX_PROCESS_MAPPINGS) {
          this.unref(file.key);
          this.counts.mappingsCapped++;
          break;
        }
        files.push(file.key);
        entries.push(BigInt(mapping.start), BigInt(mapping.end), wrapped, BigInt(file.first), BigInt(file.count));
      } else {
        if (file) this.unref(file.key);
        // No table (JIT code, anonymous memory, no CFI, no room): the walk steps by frame pointer
        // here. Neighbours without tables are one entry (V8 maps its code space in many pieces).
        if (last >= 0 && entries[last + 4] === 0n && entries[last + 1] === BigInt(mapping.start)) {
          entries[last + 1] = BigInt(mapping.end);
          continue;
        }
        if (entries.length / 5 >= MAX_PROCESS_MAPPINGS) {
          this.counts.mappingsCapped++;
          break;
        }
        entries.push(BigInt(mapping.start), BigInt(mapping.end), 0n, 0n, 0n);
      }
    }
    if (this.cancelled.delete(key)) {
      for (const used of files) this.unref(used);
      return;
    }
    // Files only: anonymous memory is walked by frame pointer whatever its extent, and V8 changes
    // its code space's protections all the time.
    const signature = sorted
      .filter((m) => m.inode !== 0 || m.path === VDSO_KEY)
      .map((m) => `${m.start}-${m.end}`)
      .join(',');
    const previous = this.processes.get(pid);
    if (previous && previous.startTimeNs === startTimeNs && previous.signature === signature) {
      // Nothing new was mapped: keep what is installed and ask less often.
      for (const used of files) this.unref(used);
      previous.refreshIntervalMs = Math.min(MAX_REFRESH_INTERVAL_MS, previous.refreshIntervalMs * 2);
      this.notBefore.set(key, this.now() + previous.refreshIntervalMs);
      return;
    }
    this.install(pid, startTimeNs, entries, files, signature);
    this.notBefore.set(key, this.now() + this.refreshIntervalMs);
  }

  /** Writes a process's mappings and entry, freeing what an earlier learning of it held. */
  private install(pid: number, startTimeNs: bigint, entries: bigint[], files: string[], signature: string): void {
    const count = entries.length / 5;
    const previous = this.processes.get(pid);
    if (!previous && this.processes.size >= this.options.maps.capacity.processes) this.evictOldestProcess();
    let first = this.mappings.allocate(count);
    while (first === undefined && this.evictOldestProcess(pid)) first = this.mappings.allocate(count);
    if (first === undefined) {
      for (const used of files) this.unref(used);
      this.counts.failed++;
      return;
    }
    try {
      this.options.maps.setProcess(pid, startTimeNs, first, BigUint64Array.from(entries));
    } catch {
      this.mappings.release(first, count);
      for (const used of files) this.unref(used);
      this.counts.failed++;
      return;
    }
    if (previous) {
      this.release(previous);
      this.counts.refreshed++;
    } else {
      this.counts.learned++;
    }
    const known: KnownProcess = { pid, startTimeNs, first, count, files, learnedAtMs: this.now(), signature, refreshIntervalMs: this.refreshIntervalMs };
    this.processes.set(pid, known);
    // Exited before its entry was there: the BPF side had nothing to delete and said nothing.
    // From here on its exit deletes the entry and sends a record.
    if (!this.options.alive(pid, startTimeNs)) this.forget(known, true);
  }

  /** Counts a table that did not fit, once per file (see WITHOUT_ROOM_KEYS). */
  private noRoomFor(tableKey: string): void {
    if (this.withoutRoom.has(tableKey)) return;
    if (this.withoutRoom.size < WITHOUT_ROOM_KEYS) this.withoutRoom.add(tableKey);
    this.counts.filesWithoutRoom++;
  }

  /**
   * The loaded table of a mapping's file, loading it when it is not, with a reference taken for
   * the caller; undefined when there is none.
   */
  private async fileFor(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<LoadedFile | undefined> {
    const isVdso = mapping.path === VDSO_KEY;
    if (!isVdso && (mapping.inode === 0 || !mapping.cacheKey)) return undefined;
    const cacheKey = isVdso ? VDSO_KEY : mapping.cacheKey;
    const tableKey = this.tableKeyOf.get(cacheKey);
    if (tableKey === NO_TABLE) return undefined;
    const known = this.files.get(tableKey ?? '');
    if (known) return this.ref(known);
    let table: UnwindTable | undefined;
    try {
      table = isVdso ? await this.options.tables.vdsoTable() : await this.options.tables.tableFor(process, mapping);
    } catch {
      this.counts.tableErrors++;
      return undefined;
    }
    if (!table) {
      this.counts.filesWithoutTables++;
      this.rememberKey(cacheKey, NO_TABLE);
      return undefined;
    }
    this.rememberKey(cacheKey, table.key);
    const loaded = this.files.get(table.key);
    if (loaded) return this.ref(loaded);
    const count = Math.floor(table.rows.byteLength / UNWIND_ROW_BYTES);
    if (count === 0 || count >= MAX_FILE_ROWS) {
      this.noRoomFor(table.key);
      return undefined;
    }
    let first = this.rows.allocate(count);
    while (first === undefined && this.evictUnusedFile()) first = this.rows.allocate(count);
    if (first === undefined) {
      this.noRoomFor(table.key);
      return undefined;
    }
    try {
      this.options.maps.writeRows(first, table.rows.subarray(0, count * UNWIND_ROW_BYTES));
    } catch {
      this.rows.release(first, count);
      this.counts.tableErrors++;
      return undefined;
    }
    const file: LoadedFile = { key: table.key, first, count, base: table.base, segments: table.segments, refs: 0, lastUsedMs: this.now() };
    this.files.set(file.key, file);
    return this.ref(file);
  }

  /** Takes a reference on a loaded file at once: an eviction by a concurrent learning cannot free it. */
  private ref(file: LoadedFile): LoadedFile {
    file.refs++;
    file.lastUsedMs = this.now();
    return file;
  }

  /** Bounded: past 65,536 files the oldest keys go (they only save a read). */
  private rememberKey(cacheKey: string, tableKey: string): void {
    this.tableKeyOf.delete(cacheKey);
    this.tableKeyOf.set(cacheKey, tableKey);
    if (this.tableKeyOf.size > 65_536) this.tableKeyOf.delete(this.tableKeyOf.keys().next().value!);
  }

  private forget(known: KnownProcess, deleteEntry: boolean): void {
    if (deleteEntry) {
      try {
        this.options.maps.deleteProcess(known.pid);
      } catch {
        // The entry stays until the pid is learned again; its start time keeps it from misleading.
      }
    }
    this.processes.delete(known.pid);
    this.release(known);
  }

  private release(known: KnownProcess): void {
    this.mappings.release(known.first, known.count);
    for (const key of known.files) this.unref(key);
  }

  private unref(key: string): void {
    const file = this.files.get(key);
    if (!file) return;
    file.refs--;
    file.lastUsedMs = this.now();
  }

  /** Frees the table no process uses that was used longest ago; false when every table is in use. */
  private evictUnusedFile(): boolean {
    let oldest: LoadedFile | undefined;
    for (const file of this.files.values()) if (file.refs <= 0 && (!oldest || file.lastUsedMs < oldest.lastUsedMs)) oldest = file;
    if (!oldest) return false;
    this.files.delete(oldest.key);
    this.rows.release(oldest.first, oldest.count);
    this.counts.filesEvicted++;
    return true;
  }

  /** Forgets the process learned longest ago (not `except`); false when there is none. */
  private evictOldestProcess(except?: number): boolean {
    let oldest: KnownProcess | undefined;
    for (const known of this.processes.values()) if (known.pid !== except && (!oldest || known.learnedAtMs < oldest.learnedAtMs)) oldest = known;
    if (!oldest) return false;
    this.forget(oldest, true);
    this.counts.processesEvicted++;
    return true;
  }
}

/**
 * The bias that turns an address of `mapping` into a row address of the file's table: the file
 * offset of address A is A - start + offset, its ELF address that minus the segment's offset
 * plus its address, and rows count from `base`. Undefined when no segment holds the mapping.
 */
export function biasOf(mapping: ExecutableMapping, file: { base: number; segments: UnwindTable['segments'] }): bigint | undefined {
  const mappedEnd = mapping.offset + (mapping.end - mapping.start);
  // The segment holding most of the mapping: with lld's layout an executable mapping's
  // page-aligned offset also covers the tail of the read-only segment before it.
  let segment: readonly [number, number, number] | undefined;
  let most = 0;
  for (const candidate of file.segments) {
    const [offset, , bytes] = candidate;
    const overlap = Math.min(offset + bytes, mappedEnd) - Math.max(offset, mapping.offset);
    if (overlap > most) {
      most = overlap;
      segment = candidate;
    }
  }
  if (!segment) return undefined;
  const [segmentOffset, segmentAddress] = segment;
  return BigInt(mapping.start) - BigInt(mapping.offset) + BigInt(segmentOffset) - BigInt(segmentAddress) + BigInt(file.base);
}
