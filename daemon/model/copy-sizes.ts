/**
 * The copy profile's size histogram (bpf/copies.h): every probed copy counted by size, bucket 0
 * for copies of 0 bytes, bucket b for [2^(b-1), 2^b) bytes, the last one for everything larger.
 * Exact counts, not samples: the BPF side counts every call.
 */

/** Buckets in the histogram (bpf/sampler.h TAIL2_COPY_SIZE_BUCKETS). */
export const COPY_SIZE_BUCKETS = 32;

export interface CopySizeBucket {
  /** Smallest size in the bucket, bytes. */
  from: number;
  /** One past the largest; Infinity for the last bucket. */
  to: number;
  count: number;
}

/** The non-empty buckets of a histogram read from the kernel, smallest sizes first. */
export function copySizeBuckets(counts: readonly number[]): CopySizeBucket[] {
  const buckets: CopySizeBucket[] = [];
  counts.forEach((count, b) => {
    if (count <= 0) return;
    const from = b === 0 ? 0 : 2 ** (b - 1);
    const to = b === 0 ? 1 : b === COPY_SIZE_BUCKETS - 1 ? Infinity : 2 ** b;
    buckets.push({ from, to, count });
  });
  return buckets;
}

/** The bucket a copy of `size` bytes is counted in (what the BPF side computes). */
export function copySizeBucket(size: number): number {
  if (size <= 0) return 0;
  // 1 + floor(log2(size)): exact below 2^32 (clz32), where a float logarithm can round up.
  const bits = size < 2 ** 32 ? 32 - Math.clz32(size) : Math.floor(Math.log2(size)) + 1;
  return Math.min(COPY_SIZE_BUCKETS - 1, bits);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB'];

function sizeText(bytes: number): string {
  let at = 0;
  let scaled = bytes;
  while (scaled >= 1024 && at < UNITS.length - 1) {
    scaled /= 1024;
    at++;
  }
  return `${scaled}${UNITS[at]}`;
}

/** One bucket as a person reads it: `32KiB–64KiB`, `0B`, `≥1GiB`. */
export function copySizeRange(bucket: CopySizeBucket): string {
  if (bucket.to === 1) return '0B';
  if (bucket.to === Infinity) return `≥${sizeText(bucket.from)}`;
  return `${sizeText(bucket.from)}–${sizeText(bucket.to)}`;
}

/** The most common sizes of a histogram, `32KiB–64KiB: 1,234; 256B–512B: 99` (at most `top`). */
export function copySizesText(buckets: readonly CopySizeBucket[], top = 4): string {
  return [...buckets]
    .sort((a, b) => b.count - a.count)
    .slice(0, top)
    .map((b) => `${copySizeRange(b)}: ${b.count.toLocaleString('en-US')}`)
    .join('; ');
}
