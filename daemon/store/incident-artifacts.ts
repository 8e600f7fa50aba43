/**
 * The artifacts an incident directory may hold and the HTTP routes serve
 * (`GET /api/incidents/:id/<name>`, docs/api.md). Only these names are ever turned into paths
 * for a reader, so a request cannot reach incident.json's neighbours or anything outside the store.
 */
export const INCIDENT_ARTIFACTS = ['flamegraph.svg', 'flamegraph.png', 'profile.pb.gz', 'stacks.folded', 'speedscope.json', 'diff.svg', 'process.svg', 'summary.json', 'samples.json.gz'] as const;

export type IncidentArtifact = (typeof INCIDENT_ARTIFACTS)[number];

/** The metadata file every incident directory has; the store writes it from the record. */
export const RECORD_FILE = 'incident.json';

export function isIncidentArtifact(name: string): name is IncidentArtifact {
  return (INCIDENT_ARTIFACTS as readonly string[]).includes(name);
}

/**
 * Names a writer may give files in an incident directory: one plain component, not hidden (dot
 * names are the store's own temporaries), so nothing lands outside the directory.
 */
export const INCIDENT_FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
