/** How long after a capture the collection runs: after its notifications are on their way. */
const DEFAULT_DELAY_MS = 5000;

/** `gc()` as node's `--expose-gc` defines it on the global object. */
type ExposedGc = () => void;

/**
 * Gives back the V8 heap a capture grew. Symbolizing and rendering an incident takes tens of MB of
 * short-lived objects; V8 keeps the old generation it grew for them (an idle daemon's 30 MB heap
 * stayed at 90 MB) because nothing in a quiet daemon makes it collect and shrink. One full
 * collection a few seconds after the incident is stored returns it (RSS 206 → 151 MB on this VM,
 * in about 100 ms of one core). Needs `--expose-gc` (systemd/tail2.service); without it this does
 * nothing. Captures in quick succession share one collection.
 */
export class HeapRelease {
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param gc what collects; by default the global `gc` of `--expose-gc`, if there is one.
   * @param delayMs how long after a capture it runs. @defaultValue 5000
   */
  constructor(
    private readonly gc: ExposedGc | undefined = (globalThis as { gc?: ExposedGc }).gc,
    private readonly delayMs = DEFAULT_DELAY_MS,
  ) {}

  /** Call when an incident is stored. */
  afterCapture(): void {
    if (!this.gc || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.gc?.();
    }, this.delayMs);
    // Never what keeps the daemon from exiting.
    this.timer.unref();
  }

  /** Drops a collection still waiting (at stop). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
