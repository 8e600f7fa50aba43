/** Binary (IEC) sizes only: `MB` could mean 10^6 or 2^20 depending on who wrote it, `MiB` cannot. */
export const SIZE_UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** Parses `512MiB`, `1.5 GiB`, `4096B` or a plain number of bytes. Throws a RangeError naming the form. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)\s*$/.exec(value) : null;
  if (!match) throw new RangeError(`invalid size ${JSON.stringify(value)}: use a number with a unit (B, KiB, MiB, GiB, TiB), e.g. 256MiB`);
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2]]);
}
