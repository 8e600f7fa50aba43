/**
 * Retention defaults for the incident store. They apply when `tail2.yaml` leaves `store.max_incidents`,
 * `store.max_age` and `store.max_disk` out; whichever limit is reached first removes the oldest
 * incidents (never one that is held, see {@link IncidentStore.hold}).
 */

/**
 * Most incidents kept. A thousand is months of a noisy rule at `max_per_day: 20`, and keeps the
 * incident list a fast page of the index.
 * @defaultValue 1000
 */
export const DEFAULT_MAX_INCIDENTS = 1000;

/**
 * Oldest incident kept, in milliseconds: 30 days, long enough to compare this month's 3am spike with
 * last month's.
 * @defaultValue 2_592_000_000 (30 days)
 */
export const DEFAULT_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Bytes of incident directories kept (the sum of their file sizes): 2 GiB. An incident with 60 s of
 * a busy host is a few MiB, so this holds hundreds while leaving the rest of `/var` alone.
 * @defaultValue 2_147_483_648 (2 GiB)
 */
export const DEFAULT_MAX_DISK_BYTES = 2 * 1024 * 1024 * 1024;

/** The three retention limits; every one applies, oldest incidents go first. */
export interface RetentionLimits {
  /** Most incidents kept (rows of the index, `missing` ones included). */
  maxIncidents: number;
  /** Incidents that fired longer ago than this (ms) are removed. */
  maxAgeMs: number;
  /** Most bytes of incident files kept. */
  maxDiskBytes: number;
}

/** The limits with the defaults filled in; a limit that is not a positive number is refused. */
export function retentionLimits(options: Partial<RetentionLimits> = {}): RetentionLimits {
  const limits: RetentionLimits = {
    maxIncidents: options.maxIncidents ?? DEFAULT_MAX_INCIDENTS,
    maxAgeMs: options.maxAgeMs ?? DEFAULT_MAX_AGE_MS,
    maxDiskBytes: options.maxDiskBytes ?? DEFAULT_MAX_DISK_BYTES,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!(typeof value === 'number' && value > 0 && !Number.isNaN(value))) {
      throw new RangeError(`incident store: ${name} must be a positive number, not ${String(value)}`);
    }
  }
  return limits;
}
