/**
 * The allocation profile's sampling (bpf/allocations.h, docs/profiles.md): a Poisson process over
 * the bytes allocated, a sampling point every `meanBytes` on average, so an allocation of `size`
 * bytes is sampled with probability 1 - exp(-size / meanBytes). A sample stands for 1/p
 * allocations and size/p bytes: the estimate jemalloc's and Go's heap profiles make, unbiased for
 * every size (a 64-byte allocation is rarely sampled, and weighs ~8,000× its size when it is).
 */

/** The mean bytes between two sampled allocations by default: Go's and jemalloc's 512 KiB. */
export const DEFAULT_ALLOCATION_MEAN_BYTES = 512 * 1024;

/**
 * The mean bytes copied between two sampled copies by default (bpf/copies.h, sampled the same
 * way). Copies are counted in full by size besides (the histogram), so the samples are only for
 * the stacks: a busy copier at 1 GiB/s writes ~1,000 samples a second at this mean.
 */
export const DEFAULT_COPY_MEAN_BYTES = 1024 * 1024;

/** Sampled allocations the kernel tracks (to see their frees) by default, across every probed process. */
export const DEFAULT_MAX_TRACKED_ALLOCATIONS = 32768;

/** How many allocations, and bytes, one sampled allocation of `size` bytes stands for. */
export function allocationWeight(size: number, meanBytes: number): { objects: number; bytes: number } {
  if (size <= 0) return { objects: 0, bytes: 0 };
  // -expm1(-x) is 1 - exp(-x) without cancellation for the small x of small allocations.
  const probability = -Math.expm1(-size / meanBytes);
  return { objects: 1 / probability, bytes: size / probability };
}
