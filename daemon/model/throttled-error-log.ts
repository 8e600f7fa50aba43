import type { Logger } from 'pino';

/** How often a failure that repeats is logged again. */
const REPEAT_MS = 60_000;

/**
 * Logs a failure of something that runs on a timer: the first one at once, then at most once a
 * minute with how many happened meanwhile, and a line when it works again. A timer that fails
 * every second must not write a line a second, nor fall silent.
 */
export class ThrottledErrorLog {
  private failures = 0;
  private suppressed = 0;
  private lastLoggedMs = -Infinity;

  constructor(
    private readonly log: Pick<Logger, 'error' | 'info'>,
    /** What failed, for the message: `the watchdog health check failed`. */
    private readonly what: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** One more failure. */
  failed(error: unknown): void {
    this.failures++;
    const now = this.clock();
    if (now - this.lastLoggedMs < REPEAT_MS) {
      this.suppressed++;
      return;
    }
    this.log.error({ err: error, failures: this.failures, since_last_line: this.suppressed }, this.what);
    this.lastLoggedMs = now;
    this.suppressed = 0;
  }

  /** It worked: says so once if it had been failing. */
  succeeded(): void {
    if (this.failures === 0) return;
    this.log.info({ failures: this.failures }, `${this.what}: working again`);
    this.failures = 0;
    this.suppressed = 0;
    this.lastLoggedMs = -Infinity;
  }

  /** Runs `task`, recording its outcome; never throws. */
  run(task: () => void): void {
    try {
      task();
      this.succeeded();
    } catch (error) {
      this.failed(error);
    }
  }
}
