import { join } from 'node:path';
import type { UnwindTable, UnwindTablesStatus } from '../model/unwind-table.js';
import type { ProcessFiles, ReaderUnwindTable } from '../symbols/process-files.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';
import { ReaderError } from '../symbols/reader-process.js';
import { UnwindDiskCache } from './unwind-disk-cache.js';
import { unwindTableBytes, UnwindMemoryCache } from './unwind-memory-cache.js';

export interface UnwindTablesOptions {
  /** Reads the files of profiled processes (tail2-reader, with its time budgets and quarantine). */
  files: ProcessFiles;
  /** The daemon's `state_dir`: tables are kept in `<stateDir>/unwind-tables/` between restarts. Absent: in memory only. */
  stateDir?: string;
  /** Bound on the tables kept on disk (`symbols.max_unwind_cache_size`), bytes. @defaultValue 256 MiB */
  maxDiskBytes?: number;
  /** Bound on the tables kept in memory, bytes. @defaultValue 64 MiB */
  maxMemoryBytes?: number;
  /** Rows one file's table may have (8 bytes each); a file with more gets its first ones. @defaultValue 4 Mi */
  maxRows?: number;
  /** Told when the disk cache cannot be used or held a corrupt file (the daemon logs it). */
  onProblem?: (message: string, error?: unknown) => void;
}

/** Default bound of the disk cache: the tables of a few hundred binaries, a little over the 200 of bench/RESULTS.md. */
export const DEFAULT_MAX_UNWIND_CACHE_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ROWS = 4 << 20;
/** Mappings remembered (cache key → table key, or "no CFI"): enough for every file of a busy host. */
const MAX_REMEMBERED_MAPPINGS = 16_384;
/** A file whose table failed for a reason of its own is not asked for again during this long. */
const FAILURE_MEMORY_MS = 10 * 60_000;
/** Failures that say something about the file itself, not about the process that mapped it or the reader. */
const FILE_FAILURES = new Set(['EBADELF', 'ENOTELF', 'ETOOBIG', 'EBADCFI', 'EBADTABLE', 'ENOMEM', 'ETIMEDOUT', 'ECRASHED', 'ECHANGED', 'EQUARANTINED']);
const NO_TABLE = Symbol('no CFI');

/**
 * The unwind tables of mapped files, for the BPF walk's loader: compiled by tail2-reader from
 * each file's CFI (native/reader/unwind-table.cc), keyed by build ID so that every process mapping
 * the same file shares one table (concurrent requests join one build, an in-memory cache bounded
 * in bytes holds recent tables), and kept on disk between daemon restarts (unwind-disk-cache.ts:
 * bounded, checked when read back, rebuilt when corrupt). The vDSO, not being a file, has
 * {@link vdsoTable}.
 */
export class UnwindTables {
  private readonly files: ProcessFiles;
  private readonly disk: UnwindDiskCache | undefined;
  private readonly memory: UnwindMemoryCache;
  private readonly maxRows: number;
  private readonly onProblem: (message: string, error?: unknown) => void;
  /** Mapping cache key → the key of its table (or NO_TABLE), so a known file costs no reader request. */
  private readonly byMapping = new Map<string, string | typeof NO_TABLE>();
  private readonly failures = new Map<string, { error: ReaderError; untilMs: number }>();
  private readonly pendingByMapping = new Map<string, Promise<UnwindTable | undefined>>();
  private readonly pendingByKey = new Map<string, Promise<UnwindTable | undefined>>();
  private readonly writes = new Set<Promise<void>>();
  private vdso: Promise<UnwindTable | undefined> | undefined;
  private vdsoBytes = 0;
  private readonly counts = { built: 0, fromDisk: 0, shared: 0, noCfi: 0 };
  private readonly failed = new Map<string, number>();

  constructor(options: UnwindTablesOptions) {
    this.files = options.files;
    this.onProblem = options.onProblem ?? (() => undefined);
    this.memory = new UnwindMemoryCache(options.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES);
    this.maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    this.disk = options.stateDir !== undefined ? new UnwindDiskCache(join(options.stateDir, 'unwind-tables'), options.maxDiskBytes ?? DEFAULT_MAX_UNWIND_CACHE_BYTES, this.onProblem) : undefined;
  }

  /**
   * The table of one executable mapping of `process` (the vDSO's for `[vdso]`); undefined when the
   * file has no CFI (stripped of .eh_frame, anonymous memory): the walk uses frame pointers there.
   * Rejects with a {@link ReaderError} when the file could not be read (its code: ETIMEDOUT,
   * ECRASHED, EBADELF, EBADCFI (CFI refused as corrupt), EBADTABLE, EQUARANTINED, ENOENT, …); a file that failed for a reason of its
   * own rejects at once with the same error for ten minutes.
   */
  async tableFor(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<UnwindTable | undefined> {
    if (mapping.path === '[vdso]') return this.vdsoTable();
    const mappingKey = mapping.cacheKey;
    if (!mappingKey) return undefined;
    const known = this.byMapping.get(mappingKey);
    if (known === NO_TABLE) {
      this.counts.shared++;
      return undefined;
    }
    const inMemory = known !== undefined ? this.memory.get(known) : undefined;
    if (inMemory) {
      this.counts.shared++;
      return inMemory;
    }
    const failure = this.failures.get(mappingKey);
    if (failure && failure.untilMs > Date.now()) throw failure.error;
    this.failures.delete(mappingKey);
    const pending = this.pendingByMapping.get(mappingKey);
    if (pending) {
      this.counts.shared++;
      return pending;
    }
    const load = this.load(process, mapping);
    this.pendingByMapping.set(mappingKey, load);
    try {
      return await load;
    } catch (error) {
      const readerError = error instanceof ReaderError ? error : new ReaderError('EREADER', (error as Error).message);
      this.failed.set(readerError.code, (this.failed.get(readerError.code) ?? 0) + 1);
      if (FILE_FAILURES.has(readerError.code)) this.failures.set(mappingKey, { error: readerError, untilMs: Date.now() + FAILURE_MEMORY_MS });
      throw readerError;
    } finally {
      this.pendingByMapping.delete(mappingKey);
    }
  }

  /**
   * The table of the vDSO every 64-bit process on this host maps (`[vdso]`), built once; undefined
   * when it has no CFI. Rejects as {@link tableFor} does; the next call tries again.
   */
  vdsoTable(): Promise<UnwindTable | undefined> {
    if (this.vdso) {
      this.counts.shared++;
      return this.vdso;
    }
    const load = this.loadVdso();
    this.vdso = load;
    load.catch((error: unknown) => {
      this.vdso = undefined;
      const code = error instanceof ReaderError ? error.code : 'EREADER';
      this.failed.set(code, (this.failed.get(code) ?? 0) + 1);
    });
    return load;
  }

  status(): UnwindTablesStatus {
    const disk = this.disk?.status();
    return {
      built: this.counts.built,
      from_disk: this.counts.fromDisk,
      shared: this.counts.shared,
      no_cfi: this.counts.noCfi,
      failed: Object.fromEntries(this.failed),
      corrupt_on_disk: disk?.corrupt ?? 0,
      disk_errors: disk?.errors ?? 0,
      tables_in_memory: this.memory.size + (this.vdsoBytes > 0 ? 1 : 0),
      bytes_in_memory: this.memory.byteSize + this.vdsoBytes,
      files_on_disk: disk?.files ?? 0,
      bytes_on_disk: disk?.bytes ?? 0,
      max_bytes_on_disk: disk?.maxBytes ?? 0,
      evicted_from_disk: disk?.evicted ?? 0,
    };
  }

  /** Waits for the cache files being written (tests, and shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }

  private async load(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<UnwindTable | undefined> {
    // The build ID first (its notes alone, no DWARF opened): a file another process mapped under
    // another path, or whose table is on disk, costs no build.
    const buildId = await this.files.buildId(process, mapping);
    const key = buildId ? `build-id:${buildId}` : `file:${mapping.cacheKey}`;
    let table = this.memory.get(key);
    if (table) {
      this.counts.shared++;
    } else {
      let pending = this.pendingByKey.get(key);
      if (pending) {
        this.counts.shared++;
      } else {
        pending = this.obtain(key, process, mapping);
        this.pendingByKey.set(key, pending);
        const done = (): void => void this.pendingByKey.delete(key);
        pending.then(done, done);
      }
      table = await pending;
    }
    this.remember(mapping.cacheKey, table?.key ?? NO_TABLE);
    return table;
  }

  /** From disk when a valid file is there, else built by the reader (and then written to disk). */
  private async obtain(key: string, process: ProcessSnapshot, mapping: ExecutableMapping): Promise<UnwindTable | undefined> {
    if (this.disk && UnwindDiskCache.keeps(key)) {
      const found = await this.disk.read(key);
      if (found && 'table' in found) {
        this.counts.fromDisk++;
        this.memory.set(found.table);
        return found.table;
      }
      if (found) this.onProblem(`a cached unwind table was not valid and is built again: ${found.corrupt}`);
    }
    const built = await this.files.unwindTable(process, mapping, this.maxRows);
    if (!built) {
      this.counts.noCfi++;
      return undefined;
    }
    // The same file as the build ID was read from (same cache key: device and inode checked
    // again). Named by the build ID the table's own answer gives all the same.
    const table = this.tableOf(built, built.buildId ? `build-id:${built.buildId}` : `file:${mapping.cacheKey}`);
    this.counts.built++;
    this.memory.set(table);
    if (this.disk && UnwindDiskCache.keeps(table.key)) {
      // Not waited for: the loader needs the table now, the disk copy only at the next start.
      const write = this.disk.write(table).catch((error: unknown) => this.onProblem(`cannot keep the unwind table of ${table.key} on disk`, error));
      this.writes.add(write);
      void write.then(() => this.writes.delete(write));
    }
    return table;
  }

  private async loadVdso(): Promise<UnwindTable | undefined> {
    const built = await this.files.vdsoUnwindTable(this.maxRows);
    if (!built) {
      this.counts.noCfi++;
      return undefined;
    }
    const table = this.tableOf(built, `vdso:${built.buildId ?? built.imageHash}`);
    this.counts.built++;
    this.vdsoBytes = unwindTableBytes(table);
    return table;
  }

  private tableOf(built: ReaderUnwindTable, key: string): UnwindTable {
    return { key, base: built.base, rows: built.rows, segments: built.segments, stats: built.stats };
  }

  private remember(mappingKey: string, tableKey: string | typeof NO_TABLE): void {
    this.byMapping.delete(mappingKey);
    this.byMapping.set(mappingKey, tableKey);
    if (this.byMapping.size > MAX_REMEMBERED_MAPPINGS) {
      const oldest = this.byMapping.keys().next();
      if (!oldest.done) this.byMapping.delete(oldest.value);
    }
  }
}
