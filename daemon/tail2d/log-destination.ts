import { fstatSync, writeSync } from 'node:fs';

/**
 * Where tail2d's pino lines go, one line per event on stderr:
 * - under systemd with stderr connected to the journal ($JOURNAL_STREAM names stderr's device and
 *   inode), JSON prefixed with the syslog priority (`<3>{...}`), so `journalctl -p warning` and the
 *   journal's colours see pino's levels instead of every line as "info";
 * - on a terminal, readable text: `10:37:02.123 WARN  rule fired: capturing rule=db-spin …`;
 * - otherwise (a pipe, a file, a log shipper), plain JSON.
 */
export function logDestination(env: NodeJS.ProcessEnv = process.env, fd = 2): { write(line: string): void } {
  const mode = env.JOURNAL_STREAM && isStream(fd, env.JOURNAL_STREAM) ? 'journal' : process.stderr.isTTY && fd === 2 ? 'tty' : 'json';
  return {
    write(line: string): void {
      const text = mode === 'json' ? line : mode === 'journal' ? `<${syslogPriority(line)}>${line}` : readableLine(line);
      writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}

/** pino's numeric levels as syslog priorities: fatal→crit, error→err, warn→warning, info→info, debug/trace→debug. */
export function syslogPriority(line: string): number {
  const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 30);
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** One pino JSON line as `HH:MM:SS.mmm LEVEL message key=value …` for a person at a terminal. */
export function readableLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[Number(record.level)] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [time, level, String(record.msg ?? ''), ...fields].filter((part) => part !== '').join(' ');
}

function isStream(fd: number, journalStream: string): boolean {
  try {
    const stat = fstatSync(fd);
    return journalStream === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}
