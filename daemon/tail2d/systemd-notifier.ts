import type { Logger } from 'pino';
import { ThrottledErrorLog } from '../model/throttled-error-log.js';

/** Sends one sd_notify state; false when not run by systemd (no $NOTIFY_SOCKET). */
export type NotifySend = (state: string) => boolean;

/**
 * tail2d's side of systemd's Type=notify protocol (sd_notify(3)): READY=1 once sampling and the
 * web server are up, STATUS= lines saying what it does, WATCHDOG=1 pings at half the unit's
 * WatchdogSec= — only while `healthy()` holds, so systemd restarts a daemon that stopped sampling
 * or lost its Redis — and STOPPING=1 on shutdown. Outside systemd every call does nothing.
 */
export class SystemdNotifier {
  private watchdog: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(
    private readonly send: NotifySend,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  ready(status: string): void {
    this.notify(`READY=1\nSTATUS=${oneLine(status)}`);
  }

  status(status: string): void {
    this.notify(`STATUS=${oneLine(status)}`);
  }

  /** SIGHUP: RELOADING=1 until the next ready(). */
  notifyReloading(): void {
    this.notify('RELOADING=1\nSTATUS=reloading tail2.yaml and the rules');
  }

  stopping(status = 'stopping: writing captures in flight'): void {
    this.stopWatchdog();
    this.notify(`STOPPING=1\nSTATUS=${oneLine(status)}`);
  }

  /**
   * Pings at half of $WATCHDOG_USEC when the unit sets WatchdogSec= (and $WATCHDOG_PID, if set,
   * is this process). An unhealthy daemon skips pings and says why in STATUS.
   */
  startWatchdog(healthy: () => { ok: boolean; reason?: string }): void {
    const usec = Number(this.env.WATCHDOG_USEC);
    const pid = this.env.WATCHDOG_PID;
    if (!Number.isFinite(usec) || usec <= 0 || (pid !== undefined && Number(pid) !== process.pid)) return;
    const intervalMs = Math.max(1, Math.floor(usec / 2000));
    const failures = new ThrottledErrorLog(this.log, 'the watchdog health check failed; the watchdog is not fed');
    this.watchdog = setInterval(() => {
      // A check that throws counts as unhealthy: systemd restarts a daemon that cannot tell.
      failures.run(() => {
        const health = healthy();
        if (health.ok) this.notify('WATCHDOG=1');
        else this.status(`unhealthy, watchdog not fed: ${health.reason ?? 'unknown'}`);
      });
    }, intervalMs);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  private notify(state: string): void {
    try {
      this.send(state);
      this.failed = false;
    } catch (error) {
      // Once per failure streak: a broken socket must not turn every ping into a log line.
      if (!this.failed) this.log.warn({ err: (error as Error).message }, 'cannot notify systemd');
      this.failed = true;
    }
  }
}

/** STATUS= is one line; newlines in it would start new assignments. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
