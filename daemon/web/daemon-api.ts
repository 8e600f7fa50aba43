import type { DaemonStatus } from '../model/daemon-status.js';
import type { ProbedProfile } from '../model/profile-kind.js';
import type { ProbedProcess } from '../probes/user-probes.js';
import type { RuleStateView } from '../model/rule-state.js';
import type { IncidentStore } from '../store/incident-store.js';

/** What the HTTP server needs from the daemon. */
export interface DaemonApi {
  store: Pick<IncidentStore, 'list' | 'get' | 'artifactPath' | 'hold'>;
  /** `web.token`: when set, pages and API need it (Bearer header or the login cookie). */
  token?: string;
  healthy(): boolean;
  /** What GET /api/status returns and `/status` renders. */
  status(): DaemonStatus;
  /** Every rule with its state per instance (RuleEngine.states()). */
  rules(): readonly RuleStateView[];
  /** Starts a manual capture; returns the incident id it will have. */
  capture(request: { beforeMs: number; afterMs: number; reason: string }): string;
  /** Attaches a profile's probes to a process (POST /api/probes); rejects with a ProbeError saying why it cannot. Absent: 404. */
  probe?(request: { profile: ProbedProfile; pid: number; forMs: number; reason: string; maxRequested: number }): Promise<ProbedProcess>;
  /** Removes a process's probes of `profile` (every profile's without); false when it had none. */
  unprobe?(pid: number, profile?: ProbedProfile): boolean;
  /** Shown in the pages' header. @defaultValue os.hostname() */
  host?: string;
  /** Shown in the pages' footer. @defaultValue the package version */
  version?: string;
  /** `web.public_url`, for the commands printed on the incident page. @defaultValue the request's own origin */
  publicUrl?: string;
  /** Wall clock (ms) for the pages' "3 min ago". @defaultValue Date.now */
  now?: () => number;
  /** GET /metrics: the Prometheus exposition text and its content type. Absent: 404. */
  metrics?(): Promise<{ contentType: string; body: string }>;
  /** Told about requests that failed with a server error (the page shows no details). */
  onError?(error: unknown): void;
}
