const UNITS: ReadonlyArray<[limitMs: number, unitMs: number, name: string]> = [
  [60_000, 1000, 's'],
  [3_600_000, 60_000, 'min'],
  [48 * 3_600_000, 3_600_000, 'h'],
  [Infinity, 86_400_000, 'd'],
];

/**
 * `thenMs` against `nowMs` in words, computed on the server so pages read right without
 * JavaScript: `just now`, `42 s ago`, `3 min ago`, `5 h ago`, `12 d ago`, or `in 2 min` for the
 * future (a notification's next attempt). Rounded down: "3 min ago" is never early.
 */
export function relativeTime(thenMs: number, nowMs: number): string {
  if (!Number.isFinite(thenMs)) return '';
  const delta = nowMs - thenMs;
  const size = Math.abs(delta);
  if (size < 5000) return 'just now';
  const [, unitMs, name] = UNITS.find(([limitMs]) => size < limitMs) ?? UNITS[UNITS.length - 1];
  const amount = `${Math.floor(size / unitMs)} ${name}`;
  return delta > 0 ? `${amount} ago` : `in ${amount}`;
}
