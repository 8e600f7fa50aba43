import { newIncidentId } from '../daemon/capture/incident-id.js';
import { renderIncidentFiles } from '../daemon/capture/incident-files.js';
import type { IncidentRecord } from '../daemon/model/incident-record.js';
import type { IncidentStore } from '../daemon/store/incident-store.js';
import type { NotificationOutcome } from '../daemon/model/notification.js';
import { buildProfile } from './fixture-profile.js';

/** What a fixture record says beyond its defaults. */
export interface FixtureRecordOptions {
  /** @defaultValue db-spin */
  rule?: string;
  /** When it fired, wall-clock ms. @defaultValue Date.now() */
  firedAtMs?: number;
  /** @defaultValue a fresh id of the firing time and rule, as tail2d makes them */
  id?: string;
  /** @defaultValue db-1 */
  host?: string;
  /** The process the rule fired for; without, a system-wide incident. */
  process?: { pid: number; comm: string; cmdline?: string };
  /** When the value first crossed the threshold, wall-clock ms; null when not known. @defaultValue null */
  heldSinceMs?: number | null;
  profile?: IncidentRecord['profile'];
  /** The cpu value the rule fired at, in cores. @defaultValue 0.97 */
  value?: number;
  /** @defaultValue ['oncall-slack'] */
  notify?: string[];
  /** @defaultValue one `pending` per target of `notify` */
  notifications?: NotificationOutcome[];
}

/**
 * An incident record as tail2d writes it for a CPU rule (`above 90% for 30s`, fired at `value`), over
 * the minute before and ten seconds after `firedAtMs`, with no series: tests and benchmarks of the
 * store and the notifiers start from it and change what they are about.
 */
export function fixtureRecord(options: FixtureRecordOptions = {}): IncidentRecord {
  const rule = options.rule ?? 'db-spin';
  const firedAtMs = options.firedAtMs ?? Date.now();
  const proc = options.process;
  const cmdline = proc ? (proc.cmdline ?? `/usr/bin/${proc.comm} -D /data`) : undefined;
  const notify = options.notify ?? ['oncall-slack'];
  const heldSinceMs = options.heldSinceMs ?? null;
  return {
    id: options.id ?? newIncidentId(firedAtMs, rule),
    rule,
    fired_at: new Date(firedAtMs).toISOString(),
    host: options.host ?? 'db-1',
    kernel: '6.18.0',
    tail2_version: '0.1.0',
    status: 'captured',
    trigger: { kind: 'rule', metric: 'cpu', comparison: 'above', value: options.value ?? 0.97, threshold: 0.9, thresholdText: '90%', forMs: 30_000 },
    instance: proc ? { kind: 'process', pid: proc.pid, startTime: 1, comm: proc.comm, cmdline: cmdline! } : { kind: 'system' },
    process: proc ? { pid: proc.pid, comm: proc.comm, cmdline: cmdline! } : undefined,
    window: {
      from: new Date(firedAtMs - 60_000).toISOString(),
      to: new Date(firedAtMs + 10_000).toISOString(),
      before_ms: 60_000,
      after_ms: 10_000,
      held_since: heldSinceMs === null ? null : new Date(heldSinceMs).toISOString(),
    },
    profile: options.profile ?? { samples: 100, stacks: 10, processes: 1, frequency: 99 },
    series: [],
    notify,
    notifications: options.notifications ?? notify.map((target) => ({ target, status: 'pending' })),
  };
}

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
  const heldSinceMs = firedAtMs - 30_000;
  const record = fixtureRecord({
    rule,
    firedAtMs,
    process: { pid, comm, cmdline: `/usr/lib/postgresql/bin/${comm} -D /data` },
    heldSinceMs,
    profile: { samples: 165, stacks: 4, processes: 1, frequency: 99 },
    value: 0.99,
    notify: options.notify,
    ...(options.notifications ? { notifications: options.notifications } : {}),
  });
  const points: Array<[number, number]> = [];
  for (let t = firedAtMs - 60_000; t <= firedAtMs + 10_000; t += 1000) points.push([t, t < heldSinceMs ? 0.1 : 0.99]);
  record.series = [{ metric: 'cpu', instance: record.instance, points }];
  await store.write(record, (await renderIncidentFiles(record, { profile: trigger, trigger, baseline, others: [] })).files);
  return record;
}
