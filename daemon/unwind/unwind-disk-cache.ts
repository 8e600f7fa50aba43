import { chmod, mkdir, readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { UnwindTable } from '../model/unwind-table.js';
import { isNotFound, replaceFileAtomically } from '../store/durable-fs.js';
import { decodeUnwindTableFile, encodeUnwindTableFile } from './unwind-table-file.js';

/** What a lookup in the disk cache found. */
export type DiskLookup = { table: UnwindTable } | { corrupt: string } | undefined;

export interface UnwindDiskCacheStatus {
  files: number;
  bytes: number;
  maxBytes: number;
  evicted: number;
  corrupt: number;
  errors: number;
}

/** Keys that are kept on disk: those that name the file's contents. The file is `<hex>.unwind`. */
const BUILD_ID_KEY = /^build-id:([0-9a-f]{8,128})$/;
const FILE_NAME = /^([0-9a-f]{8,128})\.unwind$/;
/** What replaceFileAtomically leaves behind when the daemon dies mid-write. */
const LEFTOVER = /^\.[0-9a-f]{8,128}\.unwind\.tmp$/;

interface Entry {
  bytes: number;
  /** When the table was last written or read back (ms): the oldest goes first. */
  usedMs: number;
}

/**
 * Unwind tables kept between daemon restarts under one directory (mode 0700, files 0600), keyed
 * by build ID, at most `maxBytes` in total: past it, the files used longest ago are deleted (a
 * read back counts as a use, and sets the file's mtime, so the order survives a restart). Files
 * are written atomically (unwind-table-file.ts has the format) and checked whole when read: a
 * corrupt one is deleted and reported, never used. Disk errors are counted and reported through
 * `onError`, never thrown: a cache that cannot work costs rebuilds, nothing else.
 */
export class UnwindDiskCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private ready: Promise<boolean> | undefined;
  private readonly counts = { evicted: 0, corrupt: 0, errors: 0 };

  constructor(
    private readonly directory: string,
    private readonly maxBytes: number,
    private readonly onError: (message: string, error?: unknown) => void = () => undefined,
  ) {}

  /** Whether tables of this key are kept on disk (only build IDs: a path or inode says nothing of the contents). */
  static keeps(key: string): boolean {
    return BUILD_ID_KEY.test(key);
  }

  /** The table of `key`, if a valid file of it is on disk; a corrupt one is deleted and reported. */
  async read(key: string): Promise<DiskLookup> {
    const name = fileName(key);
    if (name === undefined || !(await this.open())) return undefined;
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    const path = join(this.directory, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      this.forget(name);
      if (!isNotFound(error)) this.error(`cannot read ${path}`, error);
      return undefined;
    }
    const decoded = decodeUnwindTableFile(bytes, key);
    if (typeof decoded === 'string') {
      this.counts.corrupt++;
      await this.remove(name);
      return { corrupt: `${path}: ${decoded}` };
    }
    const now = Date.now();
    entry.usedMs = now;
    // Last in the map too: among files used in the same millisecond, the map's order decides.
    this.entries.delete(name);
    this.entries.set(name, entry);
    await utimes(path, now / 1000, now / 1000).catch(() => undefined);
    return { table: decoded };
  }

  /** Keeps `table` (whose key must be one {@link keeps} accepts), then deletes the oldest files past the bound. */
  async write(table: UnwindTable): Promise<void> {
    const name = fileName(table.key);
    if (name === undefined || !(await this.open())) return;
    const bytes = encodeUnwindTableFile(table);
    if (bytes.length > this.maxBytes) return; // it alone would push every other table out
    const path = join(this.directory, name);
    try {
      await replaceFileAtomically(path, bytes);
    } catch (error) {
      this.error(`cannot write ${path}`, error);
      return;
    }
    this.forget(name);
    this.entries.set(name, { bytes: bytes.length, usedMs: Date.now() });
    this.bytes += bytes.length;
    await this.evict(name);
  }

  status(): UnwindDiskCacheStatus {
    return { files: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, ...this.counts };
  }

  /** Creates (or tightens) the directory and learns what it holds, once. False when it cannot be used. */
  private open(): Promise<boolean> {
    this.ready ??= this.scan();
    return this.ready;
  }

  private async scan(): Promise<boolean> {
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      await chmod(this.directory, 0o700);
      for (const dirent of await readdir(this.directory, { withFileTypes: true })) {
        if (dirent.isFile() && LEFTOVER.test(dirent.name)) {
          await rm(join(this.directory, dirent.name), { force: true });
          continue;
        }
        if (!dirent.isFile() || !FILE_NAME.test(dirent.name)) continue; // not ours to delete
        const st = await stat(join(this.directory, dirent.name)).catch(() => undefined);
        if (!st) continue;
        this.entries.set(dirent.name, { bytes: st.size, usedMs: st.mtimeMs });
        this.bytes += st.size;
      }
    } catch (error) {
      this.error(`cannot use ${this.directory} for unwind tables: they are built again on every start`, error);
      return false;
    }
    await this.evict(undefined);
    return true;
  }

  /** Deletes the files used longest ago while over the bound; `keep` (just written) goes last. */
  private async evict(keep: string | undefined): Promise<void> {
    if (this.bytes <= this.maxBytes) return;
    const oldestFirst = [...this.entries].filter(([name]) => name !== keep).sort((a, b) => a[1].usedMs - b[1].usedMs);
    for (const [name] of oldestFirst) {
      if (this.bytes <= this.maxBytes) return;
      this.counts.evicted++;
      await this.remove(name);
    }
  }

  private async remove(name: string): Promise<void> {
    this.forget(name);
    try {
      await rm(join(this.directory, name), { force: true });
    } catch (error) {
      this.error(`cannot delete ${join(this.directory, name)}`, error);
    }
  }

  private forget(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.bytes -= entry.bytes;
    this.entries.delete(name);
  }

  private error(message: string, error: unknown): void {
    this.counts.errors++;
    this.onError(message, error);
  }
}

function fileName(key: string): string | undefined {
  const match = BUILD_ID_KEY.exec(key);
  return match ? `${match[1]}.unwind` : undefined;
}
