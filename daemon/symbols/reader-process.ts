import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tail2Error } from '../model/tail2-error.js';

/**
 * A failed reader request. `code` is the reader's (ENOENT, ENOTREG, EMISMATCH, ENOTOWNER,
 * ETOOBIG, EGONE, ENOTELF, EBADELF, ECHANGED, …; native/reader/failure.h) or one of the client's:
 * ETIMEDOUT (over its time budget: the reader was killed), ECRASHED (the reader died while
 * answering), ENOREADER (the reader cannot run at all), ECLOSED (shut down).
 */
export class ReaderError extends Tail2Error<string> {
  override name = 'ReaderError';

  constructor(
    code: string,
    message: string,
    readonly errno?: number,
    readonly syscall?: string,
  ) {
    super(code, message);
  }
}

/** The reader's executable: build/reader/tail2-reader, found from the sources (vitest) or dist/. */
export function readerBinaryPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'reader', 'tail2-reader');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new ReaderError('ENOREADER', 'build/reader/tail2-reader is not built: run `npm run build`');
}

export interface ReaderProcessOptions {
  /** @defaultValue {@link readerBinaryPath}() */
  binary?: string;
  args?: readonly string[];
  /** A request unanswered after this long kills the reader. @defaultValue 10_000 */
  timeoutMs?: number;
  /** Told when the reader had to be killed or died, with why. */
  onRestart?: (reason: string) => void;
}

export interface ReaderProcessStats {
  pid: number | null;
  requests: number;
  timeouts: number;
  crashes: number;
  queued: number;
}

interface Pending {
  body: Record<string, unknown>;
  timeoutMs: number;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const MAX_ANSWER_BYTES = 256 << 20;
const STDERR_TAIL_BYTES = 2048;
/** After the reader could not be started at all, how long requests fail at once before it is tried again. */
const CANNOT_RUN_RETRY_MS = 10_000;

/**
 * One tail2-reader child process (native/reader/main.cc) and its request queue. Requests go one at
 * a time: each has a time budget, and a reader that overruns it is SIGKILLed and started again
 * for the next request, so a file that hangs the reader (a FUSE mount that never answers, DWARF
 * built to take forever) costs that one request, never the daemon. A reader that dies (a crash in
 * libdw on a corrupt file) is the same: the request fails, the next one gets a new reader.
 *
 * While idle the child and its pipes are unref'd: an idle reader never keeps a process alive.
 */
export class ReaderProcess {
  private child: ChildProcess | undefined;
  private readonly queue: Pending[] = [];
  private inFlight: (Pending & { timer: NodeJS.Timeout }) | undefined;
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private stderrTail = '';
  private nextId = 1;
  private closed = false;
  /** Until when requests fail at once because the reader could not be started (ms, monotonic). */
  private cannotRunUntil = 0;
  private cannotRunError: ReaderError | undefined;
  private readonly counts = { requests: 0, timeouts: 0, crashes: 0 };

  constructor(private readonly options: ReaderProcessOptions = {}) {}

  /** Sends one request; resolves with its `result`, rejects with a {@link ReaderError}. */
  request<T>(body: Record<string, unknown>, timeoutMs = this.options.timeoutMs ?? 10_000): Promise<T> {
    if (this.closed) return Promise.reject(new ReaderError('ECLOSED', 'the reader is shut down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ body, timeoutMs, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  stats(): ReaderProcessStats {
    return { pid: this.child?.pid ?? null, ...this.counts, queued: this.queue.length + (this.inFlight ? 1 : 0) };
  }

  /** Rejects what is queued and stops the reader. */
  close(): void {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.reject(new ReaderError('ECLOSED', 'the reader is shut down'));
    this.finish(new ReaderError('ECLOSED', 'the reader is shut down'));
    this.kill();
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0 || this.closed) return;
    const next = this.queue.shift() as Pending;
    if (this.cannotRunError && performance.now() < this.cannotRunUntil) {
      // It could not start a moment ago: a fork storm must not become a spawn storm.
      next.reject(this.cannotRunError);
      this.pump();
      return;
    }
    let child: ChildProcess;
    try {
      child = this.ensureChild();
    } catch (error) {
      next.reject(error as Error);
      this.pump();
      return;
    }
    const id = this.nextId++;
    const payload = Buffer.from(JSON.stringify({ ...next.body, id }), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32LE(payload.length, 0);
    const timer = setTimeout(() => this.timedOut(), next.timeoutMs);
    this.inFlight = { ...next, timer };
    this.counts.requests++;
    this.setRef(true);
    child.stdin?.write(Buffer.concat([header, payload]));
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    const binary = this.options.binary ?? readerBinaryPath();
    const child = spawn(binary, [...(this.options.args ?? [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.received = [];
    this.receivedBytes = 0;
    this.stderrTail = '';
    child.stdout?.on('data', (chunk: Buffer) => this.onData(child, chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    // EPIPE when it died under a write: the exit handler below reports it.
    child.stdin?.on('error', () => undefined);
    child.on('error', (error) => this.onExit(child, `cannot run ${binary}: ${error.message}`, true));
    child.on('exit', (code, signal) => this.onExit(child, signal ? `killed by ${signal}` : `exited with code ${code}`, false));
    return child;
  }

  private onData(child: ChildProcess, chunk: Buffer): void {
    if (child !== this.child) return;
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    for (;;) {
      if (this.receivedBytes < 4) return;
      if (this.received[0].length < 4) this.received = [Buffer.concat(this.received)];
      const length = this.received[0].readUInt32LE(0);
      if (length > MAX_ANSWER_BYTES) {
        this.restart(`answered with ${length} bytes, over the limit`);
        return;
      }
      // Joined only once the whole answer is here: a large answer arrives in many chunks.
      if (this.receivedBytes < 4 + length) return;
      const all = this.received.length === 1 ? this.received[0] : Buffer.concat(this.received);
      const text = all.toString('utf8', 4, 4 + length);
      const rest = all.subarray(4 + length);
      this.received = rest.length > 0 ? [rest] : [];
      this.receivedBytes = rest.length;
      this.answer(text);
    }
  }

  private answer(text: string): void {
    let parsed: { result?: unknown; error?: { code?: string; message?: string; errno?: number; syscall?: string } };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      this.finish(new ReaderError('EBADANSWER', 'the reader answered something that is not JSON'));
      return;
    }
    if (parsed.error) {
      const { code = 'EREADER', message = 'the reader failed', errno, syscall } = parsed.error;
      this.finish(new ReaderError(code, message, errno, syscall));
    } else {
      this.finish(undefined, parsed.result);
    }
  }

  /** Settles the request in flight, then sends the next. */
  private finish(error: Error | undefined, result?: unknown): void {
    const done = this.inFlight;
    if (!done) return;
    this.inFlight = undefined;
    clearTimeout(done.timer);
    if (error) done.reject(error);
    else done.resolve(result);
    if (this.queue.length === 0) this.setRef(false);
    this.pump();
  }

  private timedOut(): void {
    const budget = this.inFlight?.timeoutMs ?? 0;
    this.counts.timeouts++;
    this.restart(`took longer than its ${budget} ms budget`, new ReaderError('ETIMEDOUT', `the reader took longer than its ${budget} ms budget and was stopped`));
  }

  private restart(reason: string, error: ReaderError = new ReaderError('ECRASHED', `the reader ${reason}`)): void {
    const child = this.child;
    this.child = undefined;
    if (child) child.kill('SIGKILL');
    this.options.onRestart?.(reason);
    this.finish(error);
  }

  private onExit(child: ChildProcess, how: string, cannotRun: boolean): void {
    if (child !== this.child) return; // one we already replaced
    this.child = undefined;
    if (this.closed) return;
    const stderr = this.stderrTail.trim();
    const why = `${how}${stderr ? `: ${stderr.split('\n').slice(-3).join('; ')}` : ''}`;
    if (cannotRun) {
      this.cannotRunError = new ReaderError('ENOREADER', `the reader ${why}`);
      this.cannotRunUntil = performance.now() + CANNOT_RUN_RETRY_MS;
    }
    if (this.inFlight) {
      this.counts.crashes++;
      this.options.onRestart?.(why);
      this.finish(new ReaderError(cannotRun ? 'ENOREADER' : 'ECRASHED', `the reader ${why}`));
    }
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      child.stdin?.end();
      child.kill('SIGKILL');
    }
  }

  private setRef(busy: boolean): void {
    const child = this.child;
    if (!child) return;
    for (const handle of [child, child.stdout, child.stderr, child.stdin] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (busy) handle?.ref?.();
      else handle?.unref?.();
    }
  }
}
