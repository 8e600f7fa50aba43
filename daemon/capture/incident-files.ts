import { renderDiffFlamegraphSvg } from '../formats/diff-flamegraph.js';
import { renderFlamegraphPng } from '../formats/flamegraph-png.js';
import { renderFlamegraphSvg } from '../formats/flamegraph-svg.js';
import { renderFolded } from '../formats/folded.js';
import { encodePprofGzip } from '../formats/pprof.js';
import { encodeProfileSamples } from '../formats/profile-samples.js';
import { renderSpeedscope } from '../formats/speedscope.js';
import type { IncidentProfiles, IncidentScope } from './incident-profiles.js';
import { PROFILE_KINDS } from '../model/profile-kind.js';
import type { IdleSummary } from '../model/incident-summary.js';
import { idleText } from '../profile/idle-share.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { IncidentProblem, IncidentRecord } from '../model/incident-record.js';
import { scopeOfPids } from './scope-profile.js';
import { summarizeIncident, type SummaryScope } from './summarize-incident.js';
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
  /** `rule on host · comm (pid)` (or `· unit`, `· cgroup path`) */
  title: string;
  /** `time UTC · what fired` */
  subtitle: string;
  /** ` — CPUs 45% idle` for the host-wide CPU pictures of the window, or ''. */
  idleSuffix: string;
}

/**
 * The artifacts in the order they are rendered: samples.json.gz first, since every other file can
 * be rendered again from it; then the whole window as summary.json (for the notifications and the
 * incident page), folded, flamegraph.svg/.png, pprof and speedscope; what the rule watched alone
 * as process.svg/.png (a process rule) or cgroup.svg/.png (a cgroup or unit rule) — the PNG is
 * the image notifications carry —; the trigger window against the baseline as diff.svg. Names are
 * the ones the HTTP routes serve. The idle task is in none of them unless `capture.include_idle`
 * keeps it; the host-wide pictures state the idle share in their titles instead.
 */
export const INCIDENT_RENDERERS: readonly ArtifactRenderer[] = [
  { name: 'samples.json.gz', render: ({ profiles }) => encodeProfileSamples(profiles.profile) },
  {
    name: 'summary.json',
    render: ({ record, profiles }) =>
      JSON.stringify(summarizeIncident(profiles.trigger, profiles.baseline, { scope: summaryScope(profiles.scope, profiles.scope?.profile, record), idle: idleSummary(profiles) }), null, 2) + '\n',
  },
  { name: 'stacks.folded', render: ({ profiles }) => renderFolded(profiles.profile) },
  { name: 'flamegraph.svg', render: ({ profiles, title, subtitle, idleSuffix }) => renderFlamegraphSvg(profiles.profile, { title: `${title} · ${subtitle}${idleSuffix}` }) },
  { name: 'flamegraph.png', render: ({ profiles, title, subtitle, idleSuffix }) => renderFlamegraphPng(profiles.profile, { title: `${title}${idleSuffix}`, subtitle }) },
  { name: 'profile.pb.gz', render: ({ profiles, idleSuffix }) => encodePprofGzip(profiles.profile, { mainBinary: profiles.mainBinary, comments: pprofComments(profiles, idleSuffix) }) },
  { name: 'speedscope.json', render: ({ profiles, title, idleSuffix }) => JSON.stringify(renderSpeedscope(profiles.profile, `${title}${idleSuffix}`)) },
  ...(['process', 'cgroup'] as const).flatMap((kind): ArtifactRenderer[] => [
    {
      name: `${kind}.svg`,
      render: ({ profiles: { scope }, title, subtitle }) => (scope?.kind === kind && hasSamples(scope.profile) ? renderFlamegraphSvg(scope.profile, { title: `${title} · ${subtitle}`, scope: scope.label }) : undefined),
    },
    {
      name: `${kind}.png`,
      render: ({ profiles: { scope }, title, subtitle }) =>
        scope?.kind === kind && hasSamples(scope.profile) ? renderFlamegraphPng(scope.profile, { title, subtitle: `${subtitle} · ${scope.label} only`, scope: scope.label }) : undefined,
    },
  ]),
  {
    name: 'diff.svg',
    render: ({ profiles, title }) => (profiles.baseline ? renderDiffFlamegraphSvg(profiles.trigger, profiles.baseline, { title: `${title}: what changed when the condition began${idleChange(profiles)}` }) : undefined),
  },
];

function hasSamples(profile: SymbolizedProfile): boolean {
  return profile.samples.stack.length > 0;
}

/**
 * The summary's scope: what the rule watched, when it has samples of the summary's kind (`own`,
 * its part of that profile); a process rule's process is named even when it had none. A cgroup
 * whose processes had none of this kind is summarized as the host, as before it had a picture.
 */
function summaryScope(scope: IncidentScope | undefined, own: SymbolizedProfile | undefined, record: IncidentRecord): SummaryScope | undefined {
  if (scope && own && hasSamples(own)) return { pids: scope.pids, pid: scope.pid, cgroup: scope.cgroup, unit: scope.unit };
  return record.process ? { pids: new Set([record.process.pid]), pid: record.process.pid } : undefined;
}

function idleSummary({ idle }: IncidentProfiles): IdleSummary | undefined {
  if (!idle?.trigger) return undefined;
  const summary: IdleSummary = { share: idle.trigger.share, samples: idle.trigger.idleSamples, included: idle.included };
  if (idle.baseline) summary.shareBefore = idle.baseline.share;
  return summary;
}

/** pprof keeps the idle share in its comments (the title there is the rule's): `go tool pprof -comments`. */
function pprofComments({ idle }: IncidentProfiles, idleSuffix: string): string[] {
  if (!idleSuffix || !idle) return [];
  return [`${idleSuffix.replace(/^ — /, '')}${idle.included ? '' : '; the idle task (pid 0) is left out of the samples'}`];
}

/** ` — CPUs 80% → 5% idle`: how idle the host was before the condition held and after. */
function idleChange({ idle }: IncidentProfiles): string {
  if (!idle?.baseline || !idle.trigger) return '';
  return ` — CPUs ${Math.round(idle.baseline.share * 100)}% → ${Math.round(idle.trigger.share * 100)}% idle`;
}

/**
 * What each profile of another kind than CPU gets, named `<kind>.<name>` (KIND_ARTIFACTS of the
 * store): the flamegraph in its unit, pprof, folded, speedscope, its summary and its samples.
 */
export function kindRenderers(profile: SymbolizedProfile): ArtifactRenderer[] {
  const prefix = `${profile.kind}.`;
  const what = PROFILE_KINDS[profile.kind].title;
  const scoped = (scope: IncidentScope | undefined, kind: IncidentScope['kind']) => (scope?.kind === kind ? scope.others.find((other) => other.kind === profile.kind) : undefined);
  return [
    { name: `${prefix}samples.json.gz`, render: () => encodeProfileSamples(profile) },
    {
      name: `${prefix}summary.json`,
      render: ({ record, profiles: { scope } }) => JSON.stringify(summarizeIncident(profile, undefined, { scope: summaryScope(scope, scoped(scope, scope?.kind ?? 'process'), record) }), null, 2) + '\n',
    },
    { name: `${prefix}stacks.folded`, render: () => renderFolded(profile) },
    { name: `${prefix}flamegraph.svg`, render: ({ title, subtitle }) => renderFlamegraphSvg(profile, { title: `${what} · ${title} · ${subtitle}` }) },
    { name: `${prefix}profile.pb.gz`, render: () => encodePprofGzip(profile) },
    { name: `${prefix}speedscope.json`, render: ({ title }) => JSON.stringify(renderSpeedscope(profile, `${what} · ${title}`)) },
    // What the rule watched alone, in this kind's unit: for a memory rule, the notifications' image.
    ...(['process', 'cgroup'] as const).flatMap((kind): ArtifactRenderer[] => [
      {
        name: `${prefix}${kind}.svg`,
        render: ({ profiles: { scope }, title, subtitle }) => {
          const own = scoped(scope, kind);
          return own && scope ? renderFlamegraphSvg(own, { title: `${what} · ${title} · ${subtitle}`, scope: scope.label }) : undefined;
        },
      },
      {
        name: `${prefix}${kind}.png`,
        render: ({ profiles: { scope }, title, subtitle }) => {
          const own = scoped(scope, kind);
          return own && scope ? renderFlamegraphPng(own, { title: `${what} · ${title}`, subtitle: `${subtitle} · ${scope.label} only`, scope: scope.label }) : undefined;
        },
      },
    ]),
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
  // A process rule's scope is its process: one given by the capture, else found in the samples
  // (an incident rendered again from samples.json.gz). A cgroup's members only the capture knows.
  if (!profiles.scope && record.process) profiles = { ...profiles, scope: processScope(record.process, profiles) };
  const instance = record.instance;
  const who = record.process ? ` · ${record.process.comm} (pid ${record.process.pid})` : instance.kind === 'cgroup' ? ` · ${instance.unit ?? instance.path}` : '';
  const idle = idleText(profiles.idle?.window);
  const input: RenderInput = {
    record,
    profiles,
    title: `${record.rule} on ${record.host}${who}`,
    subtitle: `${record.fired_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · ${describeTrigger(record)}`,
    idleSuffix: idle ? ` — ${idle}` : '',
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

/** The process's own samples as a scope, or undefined when it has none in the window. */
function processScope(process: NonNullable<IncidentRecord['process']>, profiles: IncidentProfiles): IncidentScope | undefined {
  return scopeOfPids({ kind: 'process', label: `${process.comm} (pid ${process.pid})`, pids: new Set([process.pid]), pid: process.pid }, profiles.profile, profiles.others);
}

/** A part that could not be made, as recorded in incident.json. */
export function problemOf(part: string, error: unknown): IncidentProblem {
  const code = (error as { code?: unknown } | null)?.code;
  const message = (error as Error | undefined)?.message ?? String(error);
  return typeof code === 'string' ? { part, error: message, code } : { part, error: message };
}
