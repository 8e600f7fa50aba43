/** How the incident page writes numbers and times. */

const MINUS = '\u2212';

/** Signed seconds with `digits` decimals: "+1.5 s", "−60.0 s", "0.0 s". */
export function formatSeconds(seconds: number, digits: number): string {
  const text = Math.abs(seconds).toFixed(digits);
  if (Number(text) === 0) return `${(0).toFixed(digits)} s`;
  return `${seconds < 0 ? MINUS : '+'}${text} s`;
}

/** Signed points with one decimal: "+77.5", "−3.0". */
export function formatPoints(points: number): string {
  return `${points < 0 ? MINUS : '+'}${Math.abs(points).toFixed(1)}`;
}

/** `part` as a share of `whole`: "54.3%", "2.5%", "0.11%", "0.0012%"; "0%" of nothing. */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const value = (part * 100) / whole;
  return `${value >= 10 ? value.toFixed(1) : value >= 0.01 || value === 0 ? String(Math.round(value * 100) / 100) : value.toPrecision(2)}%`;
}

/** 12345 → "12,345" (toLocaleString is ~50× slower, and runs once per drawn frame). */
export function thousands(n: number): string {
  const text = String(n);
  return text.length <= 3 ? text : text.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1 sample", "1,000 samples". */
export const plural = (n: number, what: string): string => `${thousands(n)} ${what}${n === 1 ? '' : 's'}`;
