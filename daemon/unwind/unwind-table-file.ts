import { createHash } from 'node:crypto';
import { z } from 'zod';
import { unwindRowsProblem, unwindTableStatsSchema, UNWIND_ROW_BYTES, type UnwindTable } from '../model/unwind-table.js';

/**
 * The file one unwind table is cached in between daemon restarts (`<state_dir>/unwind-tables/`),
 * all integers little-endian:
 *
 *   0   8 bytes   magic "T2UNWIND"
 *   8   u32       format version ({@link UNWIND_FILE_VERSION})
 *   12  u32       M, bytes of the metadata (UTF-8 JSON: key, base, segments, stats)
 *   16  u32       R, bytes of the rows (a multiple of 8)
 *   20  u32       0 (reserved)
 *   24  32 bytes  SHA-256 of everything after the header (metadata and rows)
 *   56  M bytes   metadata
 *   56+M R bytes  rows, exactly as bpf/unwind.h lays them out
 *
 * A file is used only when every one of these checks out and its rows are a valid table; anything
 * else (a crash mid-write on a file system that lost the rename's order, a disk error, a file of
 * another version) is "corrupt": it is deleted and the table is built again.
 */
export const UNWIND_FILE_VERSION = 1;
const MAGIC = Buffer.from('T2UNWIND', 'latin1');
const HEADER_BYTES = 56;
/** Metadata is a few hundred bytes; more than this is not a file of ours. */
const MAX_META_BYTES = 1 << 20;

const metaSchema = z.strictObject({
  key: z.string(),
  base: z.number().int().nonnegative(),
  segments: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative(), z.number().int().nonnegative()])),
  stats: unwindTableStatsSchema,
});

/** The bytes of the cache file of `table`. */
export function encodeUnwindTableFile(table: UnwindTable): Buffer {
  const meta = Buffer.from(JSON.stringify({ key: table.key, base: table.base, segments: table.segments, stats: table.stats }), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(UNWIND_FILE_VERSION, 8);
  header.writeUInt32LE(meta.length, 12);
  header.writeUInt32LE(table.rows.length, 16);
  createHash('sha256').update(meta).update(table.rows).digest().copy(header, 24);
  return Buffer.concat([header, meta, table.rows]);
}

/**
 * The table in a cache file's bytes, which must be the table of `key`; a string saying what is
 * wrong when they are not a whole, valid file of this version.
 */
export function decodeUnwindTableFile(bytes: Buffer, key: string): UnwindTable | string {
  if (bytes.length < HEADER_BYTES) return `${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`;
  if (!bytes.subarray(0, 8).equals(MAGIC)) return 'it does not start with the T2UNWIND magic';
  const version = bytes.readUInt32LE(8);
  if (version !== UNWIND_FILE_VERSION) return `format version ${version}, this tail2d reads ${UNWIND_FILE_VERSION}`;
  const metaBytes = bytes.readUInt32LE(12);
  const rowBytes = bytes.readUInt32LE(16);
  if (metaBytes > MAX_META_BYTES) return `its metadata claims ${metaBytes} bytes`;
  if (HEADER_BYTES + metaBytes + rowBytes !== bytes.length) return `the header says ${HEADER_BYTES + metaBytes + rowBytes} bytes, the file has ${bytes.length} (truncated or grown)`;
  if (rowBytes % UNWIND_ROW_BYTES !== 0) return `${rowBytes} bytes of rows is not a whole number of rows`;
  const body = bytes.subarray(HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(24, HEADER_BYTES))) return 'its checksum does not match its contents';
  let meta: z.infer<typeof metaSchema>;
  try {
    meta = metaSchema.parse(JSON.parse(body.toString('utf8', 0, metaBytes)));
  } catch (error) {
    return `its metadata is not valid: ${(error as Error).message.slice(0, 200)}`;
  }
  if (meta.key !== key) return `it holds the table of ${meta.key}, not ${key}`;
  const rows = body.subarray(metaBytes);
  if (meta.stats.rows * UNWIND_ROW_BYTES !== rows.length) return `its metadata counts ${meta.stats.rows} rows, it holds ${rows.length / UNWIND_ROW_BYTES}`;
  const problem = unwindRowsProblem(rows);
  if (problem !== undefined) return problem;
  return { key: meta.key, base: meta.base, rows, segments: meta.segments, stats: meta.stats };
}
