import type { SymbolizedProfile } from '../profile/symbolized-profile.js';

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
}
