import type { IdleShare } from '../profile/idle-share.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';

/** What a rule scoped to a process, a cgroup or a unit watched, and its samples. */
export interface IncidentScope {
  /** The artifacts' name: `process.svg`/`.png`, or `cgroup.svg`/`.png` for a cgroup or unit. */
  kind: 'process' | 'cgroup';
  /** How titles name it: `burner (pid 4242)`, `nginx.service`, `/system.slice/x`. */
  label: string;
  /** The processes whose samples are its. */
  pids: ReadonlySet<number>;
  /** The process, for a process rule. */
  pid?: number;
  /** The cgroup (path below the mount) and its unit, for a cgroup or unit rule. */
  cgroup?: string;
  unit?: string;
  /**
   * The whole window's CPU samples of these processes. It may have none when another kind has
   * some (a leaking process that slept through the window still faulted pages in).
   */
  profile: SymbolizedProfile;
  /** The same for each other kind of profile that has samples of these processes (`others` below). */
  others: SymbolizedProfile[];
}

/** How idle the host's CPUs were in the parts of the window (undefined where no CPU sample is). */
export interface IncidentIdle {
  window?: IdleShare;
  trigger?: IdleShare;
  baseline?: IdleShare;
  /** The idle task's samples are in the profiles (`capture.include_idle`). */
  included: boolean;
}

/** An incident's profile, whole and split at the moment the condition began to hold. */
export interface IncidentProfiles {
  /** The whole window [at - before, at + after]. */
  profile: SymbolizedProfile;
  /** From the moment the condition held (the whole window for manual captures). */
  trigger: SymbolizedProfile;
  /** Before the condition held, when that part has samples: what "normal" looked like. */
  baseline?: SymbolizedProfile;
  /**
   * The window's profiles of every other kind that has samples in it (page faults, off-CPU time…:
   * daemon/model/profile-kind.ts), whole; each gets artifacts of its own, named `<kind>.<artifact>`.
   */
  others: SymbolizedProfile[];
  /** How idle the CPUs were; absent in incidents made without it (tests' fixtures). */
  idle?: IncidentIdle;
  /**
   * What the rule watched, when it was not the host and has samples in the window: its own
   * flamegraphs (the image notifications carry) and the scope of the summary's figures.
   */
  scope?: IncidentScope;
  /** The watched program's executable: pprof's main binary (see encodePprof). */
  mainBinary?: string;
}
