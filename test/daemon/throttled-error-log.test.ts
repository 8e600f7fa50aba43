import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../daemon/tail2d/systemd-notifier.js';
import { ThrottledErrorLog } from '../../daemon/model/throttled-error-log.js';

function logger() {
  const lines: Array<{ level: number; msg: string; failures?: number; since_last_line?: number }> = [];
  return { lines, log: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

describe('ThrottledErrorLog', () => {
  it('logs the first failure, then once a minute with the count, and the recovery once', () => {
    const { lines, log } = logger();
    let now = 0;
    const failures = new ThrottledErrorLog(log, 'the thing failed', () => now);
    for (let second = 0; second < 125; second++) {
      now = second * 1000;
      failures.run(() => {
        throw new Error('EIO');
      });
    }
    expect(lines.map((l) => [l.msg, l.failures, l.since_last_line])).toEqual([
      ['the thing failed', 1, 0],
      ['the thing failed', 61, 59],
      ['the thing failed', 121, 59],
    ]);
    failures.run(() => undefined);
    failures.run(() => undefined);
    expect(lines.slice(3).map((l) => l.msg)).toEqual(['the thing failed: working again']);
  });
});

describe('SystemdNotifier watchdog', () => {
  it('does not feed the watchdog, and does not throw, when the health check throws', async () => {
    const { lines, log } = logger();
    const sent: string[] = [];
    const notifier = new SystemdNotifier((state) => sent.push(state) > 0, log, { WATCHDOG_USEC: '20000' });
    let broken = true;
    notifier.startWatchdog(() => {
      if (broken) throw new Error('SQLITE_IOERR: disk I/O error');
      return { ok: true };
    });
    try {
      await expect.poll(() => lines.filter((l) => l.msg.startsWith('the watchdog health check failed')).length).toBe(1);
      expect(sent.filter((s) => s === 'WATCHDOG=1')).toEqual([]);
      broken = false;
      await expect.poll(() => sent.filter((s) => s === 'WATCHDOG=1').length).toBeGreaterThan(0);
      expect(lines.map((l) => l.msg)).toContain('the watchdog health check failed; the watchdog is not fed: working again');
    } finally {
      notifier.stopWatchdog();
    }
  });
});
