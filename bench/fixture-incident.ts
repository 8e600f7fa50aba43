import { newIncidentId } from '../daemon/capture/incident-id.js';
import { renderIncidentFiles } from '../daemon/capture/incident-files.js';
import type { IncidentRecord } from '../daemon/capture/incident-record.js';
import type { IncidentStore } from '../daemon/store/incident-store.js';
import { buildProfile } from './fixture-profile.js';

export interface StoredIncidentOptions {
  notify: string[];
  /** The triggering process's name: untrusted text, as a real comm is. */
  comm?: string;
  rule?: string;
}

/**
 * Stores an incident the way tail2d does (record plus every rendered artifact, flamegraph.png and
 * summary.json included) with its notifications pending, and returns its record. The profile's
 * hottest function is `pg_extension_spin`; the baseline ran `ExecScan`.
 */
export async function storeIncident(store: IncidentStore, options: StoredIncidentOptions): Promise<IncidentRecord> {
  const rule = options.rule ?? 'db-spin';
  const comm = options.comm ?? 'postgres';
  const pid = 4242;
  const firedAtMs = Date.now();
  const baseline = buildProfile([
    { frames: ['main', 'PostgresMain', 'ExecScan'], pid, comm, count: 60 },
    { frames: ['main', 'PostgresMain', 'pg_extension_spin'], pid, comm, count: 5 },
  ]);
  const trigger = buildProfile([
    { frames: ['main', 'PostgresMain', 'pg_extension_spin'], pid, comm, count: 90 },
    { frames: ['main', 'PostgresMain', 'ExecScan'], pid, comm, count: 10 },
  ]);
  const record: IncidentRecord = {
    id: newIncidentId(firedAtMs, rule),
    rule,
    fired_at: new Date(firedAtMs).toISOString(),
    host: 'db-1',
    kernel: '6.18.0',
    tail2_version: '0.1.0',
    status: 'captured',
    trigger: { kind: 'rule', metric: 'cpu', comparison: 'above', value: 0.99, threshold: 0.9, thresholdText: '90%', forMs: 30_000 },
    instance: { kind: 'process', pid, startTime: 1, comm, cmdline: `/usr/lib/postgresql/bin/${comm} -D /data` },
    process: { pid, comm, cmdline: `/usr/lib/postgresql/bin/${comm} -D /data` },
    window: { from: new Date(firedAtMs - 60_000).toISOString(), to: new Date(firedAtMs + 10_000).toISOString(), before_ms: 60_000, after_ms: 10_000, held_since: new Date(firedAtMs - 30_000).toISOString() },
    profile: { samples: 165, stacks: 4, processes: 1, frequency: 99 },
    series: [],
    notify: options.notify,
    notifications: options.notify.map((target) => ({ target, status: 'pending' })),
  };
  await store.write(record, await renderIncidentFiles(record, { profile: trigger, trigger, baseline }));
  return record;
}
