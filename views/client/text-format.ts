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

const IEC_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/**
 * An amount of a profile in its unit (samples.json.gz's `unit`, daemon/model/profile-kind.ts names
 * them): "1,234 samples", "12.3 MiB", "45.6 ms", "1,234 calls". Samples and other counts are whole.
 * The same rules as the server's formatWeight (daemon/model/profile-kind.ts), written again
 * because the browser code imports nothing outside views/client (.dependency-cruiser.cjs).
 */
export function formatAmount(value: number, unit: string): string {
  if (unit === 'bytes') {
    let scaled = value;
    let step = 0;
    while (Math.abs(scaled) >= 1024 && step < IEC_UNITS.length - 1) {
      scaled /= 1024;
      step++;
    }
    return step === 0 ? `${thousands(Math.round(scaled))} B` : `${scaled.toFixed(scaled >= 100 ? 0 : 1)} ${IEC_UNITS[step]}`;
  }
  if (unit === 'nanoseconds') {
    if (value >= 1e9) return `${(value / 1e9).toFixed(2)} s`;
    if (value >= 1e6) return `${(value / 1e6).toFixed(1)} ms`;
    if (value >= 1e3) return `${(value / 1e3).toFixed(1)} µs`;
    return `${Math.round(value)} ns`;
  }
  const singular = unit === 'events' ? 'event' : unit === 'calls' ? 'call' : 'sample';
  return plural(Math.round(value), singular);
}
