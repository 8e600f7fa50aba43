import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mappingCacheKey, snapshotBytes, type ExecutableMapping, type ProcessSnapshot } from '../daemon/symbols/proc-maps.js';
import { ProcessFiles } from '../daemon/symbols/process-files.js';
import { UnwindTables } from '../daemon/unwind/unwind-tables.js';
import { encodeUnwindTableFile } from '../daemon/unwind/unwind-table-file.js';

/** Build figures of one file's table. */
export interface UnwindFileFigures {
  path: string;
  fileBytes: number;
  rows: number;
  /** Bytes of rows (what the BPF maps hold). */
  rowBytes: number;
  /** Bytes of its cache file under state_dir. */
  cacheFileBytes: number;
  noRuleRows: number;
  fdes: number;
  /** Median ms of tableFor with nothing cached (build_id + unwind_table + checks), a reader already running. */
  coldMs: number;
  /** Median ms of CPU the reader spent on it (/proc/PID/schedstat): what a busy machine does not inflate. */
  coldReaderCpuMs: number;
  /** Median ms of tableFor after a restart, the table on disk (build_id + reading and checking the file). */
  warmMs: number;
  /** Whether the cold build fits the default 10 s file budget (symbols.file_time_budget). */
  fitsBudget: boolean;
}

/** Table memory for a host running `files` distinct binaries. */
export interface UnwindHostFigures {
  files: number;
  /** Files without CFI (no table: frame pointers). */
  noCfi: number;
  failed: number;
  totalRows: number;
  totalRowBytes: number;
  totalCacheFileBytes: number;
  medianRows: number;
  p95Rows: number;
  medianRowBytes: number;
  p95RowBytes: number;
  largest: { path: string; rows: number };
  /** Seconds to build all of them, one reader, one after the other. */
  buildSeconds: number;
}

export interface UnwindBenchResult {
  files: UnwindFileFigures[];
  host: UnwindHostFigures;
}

const RUNS = 3;
const LARGE_BINARY = '/usr/bin/node';
/** Debian's chromium, when installed (the browser tests use it): a 300 MB binary built with little CFI. */
const CHROMIUM = '/usr/lib/chromium/chromium';
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

function deviceNumbers(dev: number): { major: number; minor: number } {
  const big = BigInt(dev);
  return { major: Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn)), minor: Number((big & 0xffn) | ((big >> 12n) & ~0xffn)) };
}

/** A file of this host as a process sharing the daemon's root would have mapped it. */
function hostMapping(path: string): { process: ProcessSnapshot; mapping: ExecutableMapping } {
  const st = statSync(path);
  const { major, minor } = deviceNumbers(st.dev);
  const mapping: ExecutableMapping = { start: 0, end: 0, offset: 0, path, devMajor: major, devMinor: minor, inode: st.ino, cacheKey: mappingCacheKey(major, minor, st.ino, path) };
  const process: ProcessSnapshot = { pid: 0, startTicks: 0, cmdline: '', mappings: [mapping], namespacePid: 0, uid: 0, euid: 0, sharesRoot: true, bytes: snapshotBytes('', [mapping]) };
  return { process, mapping };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

/** CPU time the symbol reader of `files` has used so far (ms), from the scheduler's own count. */
function readerCpuMs(files: ProcessFiles): number {
  const pid = files.status().readers[1]?.pid;
  if (!pid) return 0;
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** A daemon's reader and tables; the reader started (a demangle request) so that its start-up is not timed. */
async function daemon(stateDir: string): Promise<{ files: ProcessFiles; tables: UnwindTables }> {
  // A budget far above the default so that a slow build is measured rather than stopped.
  const files = new ProcessFiles({ debugDirectories: [], symbolReaders: 1, fileTimeBudgetMs: 300_000 });
  await files.demangle(['_Z1fv']);
  return { files, tables: new UnwindTables({ files, stateDir, maxMemoryBytes: 2 ** 30, maxDiskBytes: 4 * 2 ** 30 }) };
}

async function measureFile(path: string): Promise<UnwindFileFigures> {
  const cold: number[] = [];
  const warm: number[] = [];
  const coldCpu: number[] = [];
  let figures: Omit<UnwindFileFigures, 'coldMs' | 'coldReaderCpuMs' | 'warmMs' | 'fitsBudget'> | undefined;
  for (let run = 0; run < RUNS; run++) {
    const stateDir = mkdtempSync(join(tmpdir(), 'tail2-unwind-bench-'));
    try {
      const { process, mapping } = hostMapping(path);
      const first = await daemon(stateDir);
      const cpuBefore = readerCpuMs(first.files);
      let started = performance.now();
      const table = await first.tables.tableFor(process, mapping);
      cold.push(performance.now() - started);
      coldCpu.push(readerCpuMs(first.files) - cpuBefore);
      await first.tables.flush();
      first.files.close();
      if (!table) throw new Error(`${path} has no CFI`);
      figures = {
        path,
        fileBytes: statSync(path).size,
        rows: table.stats.rows,
        rowBytes: table.rows.length,
        cacheFileBytes: encodeUnwindTableFile(table).length,
        noRuleRows: table.stats.no_rule_rows,
        fdes: table.stats.fdes,
      };
      const second = await daemon(stateDir);
      started = performance.now();
      await second.tables.tableFor(process, mapping);
      warm.push(performance.now() - started);
      if (second.tables.status().from_disk !== 1) throw new Error(`${path}: the second start did not read the table from disk`);
      second.files.close();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
  if (!figures) throw new Error('no run');
  return { ...figures, coldMs: median(cold), coldReaderCpuMs: median(coldCpu), warmMs: median(warm), fitsBudget: Math.max(...cold) < 10_000 };
}

/** Regular ELF executables and shared libraries directly in `dir`, sorted by name, one per inode. */
function elfFiles(dir: string, seen: Set<string>): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    let real: string;
    try {
      real = realpathSync(path);
      const st = statSync(real);
      if (!st.isFile() || st.size < 64) continue;
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      const header = Buffer.alloc(18);
      const fd = openSync(real, 'r');
      try {
        readSync(fd, header, 0, 18, 0);
      } finally {
        closeSync(fd);
      }
      const type = header.readUInt16LE(16);
      if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || (type !== 2 && type !== 3)) continue;
      seen.add(id);
      found.push(real);
    } catch {
      continue;
    }
  }
  return found;
}

/** `count` items spread evenly over `items` (all of them when there are fewer). */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]);
}

async function measureHost(count: number): Promise<UnwindHostFigures> {
  const seen = new Set<string>();
  const bins = elfFiles('/usr/bin', seen);
  const libs = elfFiles('/usr/lib/x86_64-linux-gnu', seen);
  // Alternately from each directory, so that skipping a duplicate build keeps the mix.
  const fromBins = spread(bins, count);
  const fromLibs = spread(libs, count);
  const chosen = Array.from({ length: Math.max(fromBins.length, fromLibs.length) }, (_, i) => [fromBins[i], fromLibs[i]]).flat().filter((p): p is string => p !== undefined);
  const files = new ProcessFiles({ debugDirectories: [], symbolReaders: 1, fileTimeBudgetMs: 300_000 });
  const buildIds = new Set<string>();
  const rows: Array<{ path: string; rows: number; bytes: number; fileBytes: number }> = [];
  let noCfi = 0;
  let failed = 0;
  let taken = 0;
  const started = performance.now();
  try {
    for (const path of chosen) {
      if (taken >= count) break;
      const { process, mapping } = hostMapping(path);
      try {
        const table = await files.unwindTable(process, mapping);
        // Distinct binaries: a second name for the same build is not a second binary.
        if (table?.buildId !== undefined) {
          if (buildIds.has(table.buildId)) continue;
          buildIds.add(table.buildId);
        }
        taken++;
        if (!table) {
          noCfi++;
          continue;
        }
        const fileBytes = encodeUnwindTableFile({ key: `build-id:${table.buildId ?? '00000000'}`, base: table.base, rows: table.rows, segments: table.segments, stats: table.stats }).length;
        rows.push({ path, rows: table.stats.rows, bytes: table.rows.length, fileBytes });
      } catch {
        taken++;
        failed++;
      }
    }
  } finally {
    files.close();
  }
  const buildSeconds = (performance.now() - started) / 1000;
  const rowCounts = rows.map((r) => r.rows);
  const byteCounts = rows.map((r) => r.bytes);
  const largest = rows.reduce((a, b) => (b.rows > a.rows ? b : a), { path: '', rows: 0, bytes: 0, fileBytes: 0 });
  return {
    files: taken,
    noCfi,
    failed,
    totalRows: rowCounts.reduce((a, b) => a + b, 0),
    totalRowBytes: byteCounts.reduce((a, b) => a + b, 0),
    totalCacheFileBytes: rows.reduce((a, r) => a + r.fileBytes, 0),
    medianRows: median(rowCounts),
    p95Rows: percentile(rowCounts, 0.95),
    medianRowBytes: median(byteCounts),
    p95RowBytes: percentile(byteCounts, 0.95),
    largest: { path: largest.path, rows: largest.rows },
    buildSeconds,
  };
}

/**
 * Unwind tables (daemon/unwind/): build time cold (nothing cached, the reader compiles the file's
 * CFI) and warm (after a restart, read back from the disk cache), rows and bytes, for Debian's libc,
 * a ~100 MB binary (/usr/bin/node) and chromium when installed; and the table memory of a host running 200 distinct
 * binaries from /usr/bin and /usr/lib/x86_64-linux-gnu.
 */
export async function runUnwindTableBench(hostFiles = 200): Promise<UnwindBenchResult> {
  const files = [await measureFile(LIBC), await measureFile(LARGE_BINARY)];
  if (existsSync(CHROMIUM)) files.push(await measureFile(CHROMIUM));
  return { files, host: await measureHost(hostFiles) };
}
