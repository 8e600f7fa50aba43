import { z } from 'zod';

/** The last write the disk refused (`store.last_error` in GET /api/status). */
export const storeLastErrorSchema = z.object({
  /** Wall-clock ms since the epoch of the refused write. */
  at_ms: z.number(),
  message: z.string(),
  /** The file-system or store code: ENOSPC, EIO, TAIL2_STORE_… */
  code: z.string(),
});
export type StoreLastError = z.infer<typeof storeLastErrorSchema>;

/** What GET /api/status shows of the incident store under `store` (IncidentStore.stats()). */
export const storeStatusSchema = z.object({
  /** Incidents on disk (index rows not marked missing). */
  incidents: z.number(),
  /** Index rows whose directory is gone (removed by hand). */
  missing: z.number(),
  /** Bytes of the incidents on disk. */
  bytes: z.number(),
  last_error: storeLastErrorSchema.nullable(),
  /** The SQLite index, `<state_dir>/index.sqlite`. */
  db_path: z.string(),
  /** Where incidents are, `<state_dir>/incidents`. */
  incidents_dir: z.string(),
});
export type StoreStatus = z.infer<typeof storeStatusSchema>;
