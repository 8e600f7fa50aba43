import type { IncidentProfiles } from './incident-profiles.js';
import { renderIncidentFiles, type ArtifactRenderer, type RenderedIncident } from './incident-files.js';
import type { IncidentRecord } from '../model/incident-record.js';
import { pictureKindOf } from '../model/page-fault-profile.js';

/** An incident's artifacts in two steps: what the notification needs, and the rest. */
export interface StagedRender {
  /** Stored with incident.json, before the incident is notified. */
  first: RenderedIncident;
  /** Renders the other artifacts (called once the incident is stored). */
  rest: () => Promise<RenderedIncident>;
}

/** Rendered first whatever the incident: every other file can be rendered again from the samples; the summary is the message's. */
const ALWAYS_FIRST = new Set(['samples.json.gz', 'summary.json']);
/** The host-wide picture: the notification's image when there is no scoped one. */
const HOST_PNG = 'flamegraph.png';

/**
 * Splits the renderers so that the message to the on-call engineer waits only for what it shows:
 * samples.json.gz (what was captured, so nothing is lost if the rest never gets written),
 * summary.json (the message's functions) and the image the message carries — `process.png` or
 * `cgroup.png` of what the rule watched (and for a memory rule its memory picture,
 * `inuse.process.png` or `page_faults.process.png`, with the samples the page opens on), or
 * `flamegraph.png` when there is none or it did not render
 * (notifiers/delivery-content.ts picks the same). The SVGs, pprof, speedscope, folded
 * stacks and the other kinds' files (together most of the rendering time) come after.
 */
export async function renderStaged(record: IncidentRecord, profiles: IncidentProfiles, renderers: readonly ArtifactRenderer[]): Promise<StagedRender> {
  const scopedPng = profiles.scope ? `${profiles.scope.kind}.png` : undefined;
  // A memory rule's message carries the memory picture of what it watched (the CPU one after), and
  // its link opens the page on that kind, whose samples must be there for whoever clicks at once.
  const picture = pictureKindOf(record.trigger, record.profiles);
  const pictured = picture !== 'cpu' ? [`${picture}.samples.json.gz`, ...(scopedPng ? [`${picture}.${scopedPng}`, `${picture}.summary.json`] : [])] : [];
  const isFirst = (name: string) => ALWAYS_FIRST.has(name) || name === scopedPng || pictured.includes(name);
  const first = await renderIncidentFiles(record, profiles, renderers.filter((r) => isFirst(r.name)));
  let later = renderers.filter((r) => !isFirst(r.name));
  if (!first.files.some(([name]) => name.endsWith('.png'))) {
    const host = later.filter((r) => r.name === HOST_PNG);
    const hostRendered = await renderIncidentFiles(record, profiles, host);
    first.files.push(...hostRendered.files);
    first.problems.push(...hostRendered.problems);
    later = later.filter((r) => r.name !== HOST_PNG);
  }
  return { first, rest: () => renderIncidentFiles(record, profiles, later) };
}
