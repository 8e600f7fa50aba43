import { newIncidentId } from '../daemon/capture/incident-id.js';
import { renderIncidentFiles } from '../daemon/capture/incident-files.js';
import type { IncidentRecord } from '../daemon/model/incident-record.js';
import type { IncidentStore } from '../daemon/store/incident-store.js';
import type { NotificationOutcome } from '../daemon/model/notification.js';
import { buildProfile } from './fixture-profile.js';

export interface StoredIncidentOptions {
  notify: string[];
  /** The triggering process's name: untrusted text, as a real comm is. */
  comm?: string;
  rule?: string;
  /** When it fired, wall-clock ms. @defaultValue Date.now() */
  firedAtMs?: number;
  /** The hottest function's name: untrusted text, as a real symbol is. @defaultValue pg_extension_spin */
  hotFunction?: string;
  /** Outcomes to store instead of one `pending` per target of `notify`. */
  notifications?: NotificationOutcome[];
}

/**
 * Stores an incident the way tail2d does (record plus every rendered artifact, flamegraph.png and
 * summary.json included) with its notifications pending, and returns its record. The profile's
 * hottest function is `pg_extension_spin`; the baseline ran `ExecScan`. The cpu series has one
 * point a second over the window: 10% of a core in the baseline, 99% from `held_since` on.
 */
export async function storeIncident(store: IncidentStore, options: StoredIncidentOptions): Promise<IncidentRecord> {
  const rule = options.rule ?? 'db-spin';
  const comm = options.comm ?? 'postgres';
  const hot = options.hotFunction ?? 'pg_extension_spin';
  const pid = 4242;
  const firedAtMs = options.firedAtMs ?? Date.now();
  const baseline = buildProfile([
    { frames: ['main', 'PostgresMain', 'ExecScan'], pid, comm, count: 60 },
    { frames: ['main', 'PostgresMain', hot], pid, comm, count: 5 },
  ]);
  const trigger = buildProfile([
    { frames: ['main', 'PostgresMain', hot], pid, comm, count: 90 },
    { frames: ['main', 'PostgresMain', 'ExecScan'], pid, comm, count: 10 },
  ]);
  const fromMs = firedAtMs - 60_000;
  const heldSinceMs = firedAtMs - 30_000;
  const points: Array<[number, number]> = [];
  for (let t = fromMs; t <= firedAtMs + 10_000; t += 1000) points.push([t, t < heldSinceMs ? 0.1 : 0.99]);
  const instance = { kind: 'process' as const, pid, startTime: 1, comm, cmdline: `/usr/lib/postgresql/bin/${comm} -D /data` };
  const record: IncidentRecord = {
    id: newIncidentId(firedAtMs, rule),
    rule,
    fired_at: new Date(firedAtMs).toISOString(),
    host: 'db-1',
    kernel: '6.18.0',
    tail2_version: '0.1.0',
    status: 'captured',
    trigger: { kind: 'rule', metric: 'cpu', comparison: 'above', value: 0.99, threshold: 0.9, thresholdText: '90%', forMs: 30_000 },
    instance,
    process: { pid, comm, cmdline: instance.cmdline },
    window: { from: new Date(fromMs).toISOString(), to: new Date(firedAtMs + 10_000).toISOString(), before_ms: 60_000, after_ms: 10_000, held_since: new Date(heldSinceMs).toISOString() },
    profile: { samples: 165, stacks: 4, processes: 1, frequency: 99 },
    series: [{ metric: 'cpu', instance, points }],
    notify: options.notify,
    notifications: options.notifications ?? options.notify.map((target) => ({ target, status: 'pending' })),
  };
  await store.write(record, (await renderIncidentFiles(record, { profile: trigger, trigger, baseline, others: [] })).files);
  return record;
}
