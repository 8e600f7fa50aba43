import { renderDiffFlamegraphSvg } from '../formats/diff-flamegraph.js';
import { renderFlamegraphPng } from '../formats/flamegraph-png.js';
import { renderFlamegraphSvg } from '../formats/flamegraph-svg.js';
import { renderFolded } from '../formats/folded.js';
import { encodePprofGzip } from '../formats/pprof.js';
import { encodeProfileSamples } from '../formats/profile-samples.js';
import { renderSpeedscope } from '../formats/speedscope.js';
import type { IncidentProfiles } from './incident-profiles.js';
import { PROFILE_KINDS } from '../model/profile-kind.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { IncidentProblem, IncidentRecord } from '../model/incident-record.js';
import { summarizeIncident } from './summarize-incident.js';
import { describeTrigger } from '../model/trigger-text.js';

/** One file of an incident: a plain name and its content. */
export type IncidentFile = [name: string, content: string | Uint8Array];

/** The files that rendered, and what did not (recorded on the incident as `problems`). */
export interface RenderedIncident {
  files: IncidentFile[];
  problems: IncidentProblem[];
}

/** One artifact: its name and how to make it; undefined when the incident has none of that kind. */
export interface ArtifactRenderer {
  name: string;
  render(input: RenderInput): Promise<string | Uint8Array | undefined> | string | Uint8Array | undefined;
}

export interface RenderInput {
  record: IncidentRecord;
  profiles: IncidentProfiles;
  /** `rule on host · comm (pid)` */
  title: string;
  /** `time UTC · what fired` */
  subtitle: string;
}

/**
 * The artifacts in the order they are rendered: samples.json.gz first, since every other file can
 * be rendered again from it; then the whole window as summary.json (for the notifications and the
 * incident page), folded, flamegraph.svg/.png, pprof and speedscope; the triggering process alone
 * as process.svg; the trigger window against the baseline as diff.svg. Names are the ones the HTTP
 * routes serve.
 */
export const INCIDENT_RENDERERS: readonly ArtifactRenderer[] = [
  { name: 'samples.json.gz', render: ({ profiles }) => encodeProfileSamples(profiles.profile) },
  { name: 'summary.json', render: ({ record, profiles }) => JSON.stringify(summarizeIncident(profiles.trigger, profiles.baseline, record.process?.pid), null, 2) + '\n' },
  { name: 'stacks.folded', render: ({ profiles }) => renderFolded(profiles.profile) },
  { name: 'flamegraph.svg', render: ({ profiles, title, subtitle }) => renderFlamegraphSvg(profiles.profile, { title: `${title} · ${subtitle}` }) },
  { name: 'flamegraph.png', render: ({ profiles, title, subtitle }) => renderFlamegraphPng(profiles.profile, { title, subtitle }) },
  { name: 'profile.pb.gz', render: ({ profiles }) => encodePprofGzip(profiles.profile) },
  { name: 'speedscope.json', render: ({ profiles, title }) => JSON.stringify(renderSpeedscope(profiles.profile, title)) },
  // The process the rule watched, alone: the first thing to look at on a busy host.
  {
    name: 'process.svg',
    render: ({ record, profiles, title, subtitle }) => (record.process ? renderFlamegraphSvg(profiles.profile, { title: `${title} · ${subtitle}`, onlyPid: record.process.pid }) : undefined),
  },
  {
    name: 'diff.svg',
    render: ({ profiles, title }) => (profiles.baseline ? renderDiffFlamegraphSvg(profiles.trigger, profiles.baseline, { title: `${title}: what changed when the condition began` }) : undefined),
  },
];

/**
 * What each profile of another kind than CPU gets, named `<kind>.<name>` (KIND_ARTIFACTS of the
 * store): the flamegraph in its unit, pprof, folded, speedscope, its summary and its samples.
 */
export function kindRenderers(profile: SymbolizedProfile): ArtifactRenderer[] {
  const prefix = `${profile.kind}.`;
  const what = PROFILE_KINDS[profile.kind].title;
  return [
    { name: `${prefix}samples.json.gz`, render: () => encodeProfileSamples(profile) },
    { name: `${prefix}summary.json`, render: ({ record }) => JSON.stringify(summarizeIncident(profile, undefined, record.process?.pid), null, 2) + '\n' },
    { name: `${prefix}stacks.folded`, render: () => renderFolded(profile) },
    { name: `${prefix}flamegraph.svg`, render: ({ title, subtitle }) => renderFlamegraphSvg(profile, { title: `${what} · ${title} · ${subtitle}` }) },
    { name: `${prefix}profile.pb.gz`, render: () => encodePprofGzip(profile) },
    { name: `${prefix}speedscope.json`, render: ({ title }) => JSON.stringify(renderSpeedscope(profile, `${what} · ${title}`)) },
  ];
}

/**
 * Renders the artifact files of an incident (incident.json itself is written by the store from the
 * record). Each artifact is rendered on its own: one that throws (a renderer's bug, fonts missing
 * for the PNG) is left out and named in `problems`, and the others are still made, so a capture is
 * never lost to one broken format.
 */
export async function renderIncidentFiles(
  record: IncidentRecord,
  profiles: IncidentProfiles,
  renderers: readonly ArtifactRenderer[] = [...INCIDENT_RENDERERS, ...profiles.others.flatMap(kindRenderers)],
): Promise<RenderedIncident> {
  const who = record.process ? ` · ${record.process.comm} (pid ${record.process.pid})` : '';
  const input: RenderInput = {
    record,
    profiles,
    title: `${record.rule} on ${record.host}${who}`,
    subtitle: `${record.fired_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · ${describeTrigger(record)}`,
  };
  const rendered: RenderedIncident = { files: [], problems: [] };
  for (const renderer of renderers) {
    try {
      const content = await renderer.render(input);
      if (content !== undefined) rendered.files.push([renderer.name, content]);
    } catch (error) {
      rendered.problems.push(problemOf(renderer.name, error));
    }
  }
  return rendered;
}

/** A part that could not be made, as recorded in incident.json. */
export function problemOf(part: string, error: unknown): IncidentProblem {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as Error | undefined)?.message ?? String(error);
  return typeof code === 'string' ? { part, error: message, code } : { part, error: message };
}
