import { PROFILE_KIND_NAMES } from '../model/profile-kind.js';

/**
 * The artifacts an incident directory may hold and the HTTP routes serve
 * (`GET /api/incidents/:id/<name>`, docs/api.md). Only these names are ever turned into paths
 * for a reader, so a request cannot reach incident.json's neighbours or anything outside the store.
 */
export const INCIDENT_ARTIFACTS = [
  'flamegraph.svg',
  'flamegraph.png',
  'profile.pb.gz',
  'stacks.folded',
  'speedscope.json',
  'diff.svg',
  // What a process rule, or a cgroup or unit rule, watched, alone: the PNG is the notifications' image.
  'process.svg',
  'process.png',
  'cgroup.svg',
  'cgroup.png',
  'summary.json',
  'samples.json.gz',
] as const;

export type IncidentArtifact = (typeof INCIDENT_ARTIFACTS)[number];

/**
 * What a profile of a kind other than CPU gets (daemon/model/profile-kind.ts): served as
 * `<kind>.<artifact>`, e.g. `page_faults.flamegraph.svg`.
 */
export const KIND_ARTIFACTS = [
  'flamegraph.svg',
  'profile.pb.gz',
  'stacks.folded',
  'speedscope.json',
  'summary.json',
  'samples.json.gz',
  // What the rule watched alone, in the kind's unit (`page_faults.process.png`: a memory rule's image).
  'process.svg',
  'process.png',
  'cgroup.svg',
  'cgroup.png',
] as const;

/** The metadata file every incident directory has; the store writes it from the record. */
export const RECORD_FILE = 'incident.json';

export function isIncidentArtifact(name: string): boolean {
  if ((INCIDENT_ARTIFACTS as readonly string[]).includes(name)) return true;
  const dot = name.indexOf('.');
  const kind = name.slice(0, dot);
  return dot > 0 && kind !== 'cpu' && (PROFILE_KIND_NAMES as readonly string[]).includes(kind) && (KIND_ARTIFACTS as readonly string[]).includes(name.slice(dot + 1));
}

/**
 * Names a writer may give files in an incident directory: one plain component, not hidden (dot
 * names are the store's own temporaries), so nothing lands outside the directory.
 */
export const INCIDENT_FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
