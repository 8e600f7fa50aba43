import { constants, type ReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';
import { Tail2Error } from '../model/tail2-error.js';

/** Read before the status line goes out, so a file that cannot be read at all still gets a 500. */
const FIRST_CHUNK_BYTES = 64 * 1024;

/** An artifact that is there but cannot be served: not a regular file, or the disk refused a read. */
export class ArtifactReadError extends Tail2Error<string> {
  override name = 'ArtifactReadError';

  /** @param code - the file-system code (EIO, EISDIR, ELOOP, …), or `TAIL2_NOT_A_FILE`. */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, undefined, options);
  }
}

/**
 * How a transfer ended: `sent` whole, `absent` (no such file: nothing was written to `res`), or
 * `aborted` by the client before the end (nothing to report: the file is closed all the same).
 */
export type ArtifactOutcome = 'sent' | 'absent' | 'aborted';

/**
 * Streams the file at `path` as a 200 with `headers` and its Content-Length. Resolves only once the
 * file is closed, whatever happened, so a caller's hold on the incident lasts exactly as long as
 * the transfer.
 *
 * The file is opened without following a symlink and without blocking on a FIFO, and must be a
 * regular file. A failure before the first byte is sent rejects with {@link ArtifactReadError} and
 * leaves `res` untouched (the caller answers 500); one in the middle destroys the response (its
 * Content-Length tells the client it is incomplete) and rejects too.
 */
export async function sendArtifact(res: Response, path: string, headers: Record<string, string>): Promise<ArtifactOutcome> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    throw new ArtifactReadError(code, `cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  let stream: ReadStream | undefined;
  try {
    let size: number;
    let first: Buffer;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ArtifactReadError('TAIL2_NOT_A_FILE', `${path} is not a regular file`);
      size = info.size;
      const buffer = Buffer.alloc(Math.min(size, FIRST_CHUNK_BYTES));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      first = buffer.subarray(0, bytesRead);
    } catch (error) {
      if (error instanceof ArtifactReadError) throw error;
      throw new ArtifactReadError(errorCode(error), `cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
    res.status(200).set({ ...headers, 'Content-Length': String(size) });
    if (res.req.method === 'HEAD' || size <= first.length) {
      res.end(res.req.method === 'HEAD' ? undefined : first);
      return 'sent';
    }
    // The handle stays ours (autoClose off): it is closed below, once, whatever the stream did.
    const rest = handle.createReadStream({ start: first.length, autoClose: false });
    stream = rest;
    let readError: unknown;
    rest.once('error', (error) => (readError = error));
    try {
      await pipeline(async function* () {
        yield first;
        yield* rest;
      }, res);
    } catch (error) {
      // Not the file: the client went away (premature close, reset); pipeline destroyed both ends.
      if (readError === undefined) return 'aborted';
      res.destroy();
      throw new ArtifactReadError(errorCode(readError), `reading ${path} failed after the first bytes were sent: ${(readError as Error).message}`, { cause: error });
    }
    return 'sent';
  } finally {
    stream?.destroy();
    await handle.close().catch(() => undefined);
  }
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'TAIL2_READ_FAILED';
}
