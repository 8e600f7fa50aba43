import { readFile, stat } from 'node:fs/promises';
import type { IncidentRecord } from '../model/incident-record.js';
import { parseIncidentSummary, type FunctionChange, type FunctionShare, type IncidentSummary } from '../model/incident-summary.js';
import { describeTrigger } from '../model/trigger-text.js';
import { pictureKindOf } from '../model/page-fault-profile.js';
import { formatWeight, PROFILE_KINDS, PROFILE_KIND_NAMES, type ProfileKindName, type WeightUnit } from '../model/profile-kind.js';
import { INCIDENT_ARTIFACTS, KIND_ARTIFACTS, type IncidentArtifact } from '../store/incident-artifacts.js';
import { incidentCommands } from './incident-commands.js';
import type { DaemonApi } from './daemon-api.js';
import { metricChart, type MetricChartSvg } from './metric-chart-svg.js';
import { notificationViews, type NotificationView } from './notification-view.js';
import type { PageModel } from './page-renderer.js';
import { durationText, timeView, type TimeView } from './time-text.js';

/** A function's line in `table#top-functions` or the changes table. */
export interface FunctionRow {
  name: string;
  module: string;
  selfPercent: string;
  totalPercent: string;
  /** Change of the self share in points, signed (`+19.5`), with `grew` / `shrank` / `same`; null without a baseline. */
  change: { text: string; className: 'grew' | 'shrank' | 'same' } | null;
}

/** A function whose self share moved between the baseline and the trigger window. */
export interface ChangeRow {
  name: string;
  module: string;
  before: string;
  after: string;
  change: NonNullable<FunctionRow['change']>;
}

export interface ProcessRow {
  pid: number;
  comm: string;
  samples: string;
  share: string;
}

/** The attributes of `#incident-data`, the client script's input (the DOM contract). */
export interface IncidentData {
  id: string;
  samplesUrl: string;
  firedAt: string;
  heldSince: string;
  windowFrom: string;
  windowTo: string;
  pid: string;
  comm: string;
  frequency: string;
}

export interface IncidentPageModel extends PageModel {
  id: string;
  rule: string;
  host: string;
  kernel: string;
  tail2Version: string;
  process: { pid: number; comm: string; cmdline: string } | null;
  /** What the rule watched when it is not a process: `the host`, a cgroup or unit. */
  scopeText: string;
  manual: boolean;
  trigger: string;
  /** The rule's `for`, in words; null for manual captures. */
  forText: string | null;
  fired: TimeView | undefined;
  heldSince: TimeView | undefined;
  window: { from: TimeView | undefined; to: TimeView | undefined; before: string; after: string };
  profile: { samples: number; stacks: number; processes: number; frequency: number };
  chart: MetricChartSvg | null;
  data: IncidentData;
  /**
   * The kinds of profile the incident holds, as the page's switch (`?profile=<kind>`): CPU first;
   * only shown when there is more than one. The heatmap, flamegraph, functions and downloads below
   * are of the current one.
   */
  profiles: Array<{ kind: ProfileKindName; title: string; unit: string; href: string; current: boolean }>;
  /** The current profile's title and unit ("Page faults", "bytes"). */
  current: { kind: ProfileKindName; title: string; unit: string };
  flamegraphPng: string | null;
  /** Standalone interactive SVGs that exist for this incident. */
  interactive: Array<{ href: string; label: string }>;
  summary: {
    /** Whose functions these are: the triggering process (or cgroup, unit) alone, or every process. */
    scopeText: string;
    /**
     * `CPUs 45% idle in the trigger window (80% before); the idle task is left out of the
     * profiles`, or null when the summary does not say.
     */
    idleText: string | null;
    /** What the shares are of, in the profile's unit: `1,980 samples`, `350 MiB`. */
    amountText: string;
    /** The same before the condition held; null without a baseline. */
    baselineText: string | null;
    functions: FunctionRow[];
    grew: ChangeRow[];
    shrank: ChangeRow[];
    processes: ProcessRow[];
  } | null;
  downloads: Array<{ href: string; file: string; label: string; size: string }>;
  notifications: NotificationView[];
  commands: string;
  /** What could not be made or written for this incident (`problems` in incident.json); empty when whole. */
  problems: Array<{ part: string; error: string }>;
}

const DOWNLOADS: ReadonlyArray<[IncidentArtifact, string]> = [
  ['profile.pb.gz', 'pprof profile'],
  ['stacks.folded', 'Folded stacks'],
  ['speedscope.json', 'Speedscope JSON'],
  ['flamegraph.svg', 'Flamegraph SVG'],
  ['flamegraph.png', 'Flamegraph PNG'],
  ['samples.json.gz', 'Samples (JSON, gzip)'],
];

const INTERACTIVE: ReadonlyArray<[IncidentArtifact, string]> = [
  ['flamegraph.svg', 'Open interactive SVG'],
  ['process.svg', 'Triggering process alone (SVG)'],
  ['process.png', 'Triggering process alone (PNG)'],
  ['cgroup.svg', 'The watched cgroup alone (SVG)'],
  ['cgroup.png', 'The watched cgroup alone (PNG)'],
  ['diff.svg', 'What changed: differential SVG'],
];

/**
 * The incident page's model: the record, summary.json and which artifacts exist. Undefined when
 * there is no such incident. The incident is held while its files are read, so retention cannot
 * delete them underneath.
 */
export async function incidentPage(api: DaemonApi, id: string, baseUrl: string, nowMs: number, profile?: string): Promise<IncidentPageModel | undefined> {
  const release = api.store.hold(id);
  try {
    const record = await api.store.get(id);
    if (!record) return undefined;
    const kinds = kindsOf(record);
    // `?profile=` picks one the incident has; else a memory rule's incident opens on its page faults.
    const asked = kinds.find((kind) => kind === profile);
    const pictured = pictureKindOf(record.trigger, record.profiles);
    const kind = asked ?? (kinds.includes(pictured) ? pictured : 'cpu');
    const prefix = kind === 'cpu' ? '' : `${kind}.`;
    const sizes = await artifactSizes(api, id, prefix);
    const summary = await readSummary(api, id, `${prefix}summary.json`);
    return model(record, { kinds, kind, prefix }, sizes, summary, baseUrl, Boolean(api.token), nowMs);
  } finally {
    release();
  }
}

/** The kinds of profile an incident holds: CPU, then those incident.json's `profiles` lists. */
function kindsOf(record: IncidentRecord): ProfileKindName[] {
  const listed = Array.isArray(record.profiles) ? record.profiles.map((p) => p?.kind) : [];
  return ['cpu', ...PROFILE_KIND_NAMES.filter((kind) => kind !== 'cpu' && listed.includes(kind))];
}

/** Which profile the page shows: its kind, and the prefix of its artifacts' names ('' for CPU). */
interface ShownProfile {
  kinds: ProfileKindName[];
  kind: ProfileKindName;
  prefix: string;
}

function model(
  record: IncidentRecord,
  shown: ShownProfile,
  sizes: Map<string, number>,
  summary: IncidentSummary | undefined,
  baseUrl: string,
  tokenConfigured: boolean,
  nowMs: number,
): IncidentPageModel {
  const id = record.id;
  const { kind, prefix } = shown;
  // Artifacts of the profile shown: `page_faults.flamegraph.svg` for page faults.
  const url = (name: string): string => `/api/incidents/${encodeURIComponent(id)}/${name}`;
  const has = (name: string): boolean => sizes.has(`${prefix}${name}`);
  const shownUrl = (name: string): string => url(`${prefix}${name}`);
  const process = record.process ?? null;
  const instance = record.instance;
  const scopeText = instance.kind === 'system' ? 'the host' : instance.kind === 'cgroup' ? (instance.unit ?? instance.path) : `${instance.comm} (pid ${instance.pid})`;
  const who = process ? ` · ${process.comm} (pid ${process.pid})` : '';
  return {
    title: `${record.rule} on ${record.host}${who}`,
    id,
    rule: record.rule,
    host: record.host,
    kernel: record.kernel,
    tail2Version: record.tail2_version,
    process,
    scopeText,
    manual: record.trigger.kind === 'manual',
    trigger: describeTrigger(record),
    forText: record.trigger.kind === 'rule' ? durationText(record.trigger.forMs) : null,
    fired: timeView(record.fired_at, nowMs),
    heldSince: timeView(record.window.held_since, nowMs),
    window: { from: timeView(record.window.from, nowMs), to: timeView(record.window.to, nowMs), before: durationText(record.window.before_ms), after: durationText(record.window.after_ms) },
    profile: record.profile,
    chart: metricChart(record),
    data: {
      id,
      samplesUrl: shownUrl('samples.json.gz'),
      firedAt: record.fired_at,
      heldSince: record.window.held_since ?? '',
      windowFrom: record.window.from,
      windowTo: record.window.to,
      pid: process ? String(process.pid) : '',
      comm: process?.comm ?? '',
      frequency: String(record.profile.frequency),
    },
    profiles:
      shown.kinds.length > 1
        ? shown.kinds.map((k) => ({ kind: k, title: PROFILE_KINDS[k].title, unit: PROFILE_KINDS[k].unit, href: `/incidents/${encodeURIComponent(id)}?profile=${k}`, current: k === kind }))
        : [],
    current: { kind, title: PROFILE_KINDS[kind].title, unit: PROFILE_KINDS[kind].unit },
    // Other kinds have no host-wide PNG: the still image is what the rule watched alone.
    flamegraphPng: kind === 'cpu' ? (has('flamegraph.png') ? url('flamegraph.png') : null) : (['process.png', 'cgroup.png'].filter(has).map(shownUrl)[0] ?? null),
    interactive: INTERACTIVE.filter(([name]) => has(name)).map(([name, label]) => ({ href: shownUrl(name), label })),
    summary: summary ? summaryView(summary, process, PROFILE_KINDS[kind].unit) : null,
    downloads: DOWNLOADS.filter(([name]) => has(name)).map(([name, label]) => ({ href: shownUrl(name), file: `${id}-${prefix}${name}`, label, size: sizeText(sizes.get(`${prefix}${name}`) ?? 0) })),
    notifications: notificationViews(record.notifications, nowMs),
    commands: incidentCommands(baseUrl, id, tokenConfigured),
    // incident.json may come from an older tail2 or a hand edit: take only well-formed entries.
    problems: (Array.isArray(record.problems) ? record.problems : [])
      .filter((p) => typeof p?.part === 'string' && typeof p?.error === 'string')
      .map((p) => ({ part: p.part, error: p.error })),
  };
}

function summaryView(summary: IncidentSummary, process: IncidentRecord['process'] | null, unit: WeightUnit): NonNullable<IncidentPageModel['summary']> {
  const scope = summary.scope;
  const hasBaseline = summary.baselineSamples !== undefined;
  const samplesText = (n: number): string => `${n.toLocaleString('en-US')} sample${n === 1 ? '' : 's'}`;
  const amount = (weight: number): string => (unit === 'samples' ? samplesText(weight) : formatWeight(weight, unit));
  const whatOf = unit === 'samples' ? 'samples' : unit;
  const whose =
    scope?.pid !== undefined
      ? `${process?.comm ?? scope.comm ?? 'the process'} (pid ${scope.pid}), as shares of its own ${whatOf}`
      : scope
        ? `${scope.unit ?? scope.cgroup ?? 'the cgroup'} (${scope.processes ?? 0} process${scope.processes === 1 ? '' : 'es'} with samples), as shares of its own ${whatOf}`
        : 'every process on the host';
  const idle = summary.idle;
  return {
    scopeText: whose,
    idleText: idle
      ? `CPUs ${percent(idle.share)} idle in the trigger window${idle.shareBefore === undefined ? '' : ` (${percent(idle.shareBefore)} before)`}; ` +
        (idle.included ? 'the idle task (pid 0) is in the profiles' : 'the idle task (pid 0) is left out of the profiles')
      : null,
    // A scope's figures are its weight (bytes for page faults); the host's, its sample count.
    amountText: scope ? amount(scope.samples) : samplesText(summary.samples),
    baselineText: scope ? (scope.baselineSamples === undefined ? null : amount(scope.baselineSamples)) : summary.baselineSamples === undefined ? null : samplesText(summary.baselineSamples),
    functions: (summary.topFunctions?.bySelf ?? []).map((f) => functionRow(f, hasBaseline)),
    grew: (summary.grew ?? []).map(changeRow),
    shrank: (summary.shrank ?? []).map(changeRow),
    // A process's weight in the profile's unit: samples for CPU, bytes made resident for page faults.
    processes: (summary.topProcesses ?? []).map((p) => ({ pid: p.pid, comm: p.comm, samples: unit === 'samples' ? p.samples.toLocaleString('en-US') : formatWeight(p.samples, unit), share: percent(p.share) })),
  };
}

function functionRow(f: FunctionShare, hasBaseline: boolean): FunctionRow {
  return { name: f.name, module: f.module ?? '', selfPercent: percent(f.selfShare), totalPercent: percent(f.totalShare), change: hasBaseline && f.change !== undefined ? changeText(f.change) : null };
}

function changeRow(f: FunctionChange): ChangeRow {
  return { name: f.name, module: f.module ?? '', before: percent(f.selfShareBefore), after: percent(f.selfShare), change: changeText(f.change) };
}

/** Points with their sign; a change that rounds to zero is neither grown nor shrunk. */
function changeText(points: number): NonNullable<FunctionRow['change']> {
  const rounded = Math.round(points * 10) / 10;
  if (rounded === 0) return { text: '0.0', className: 'same' };
  return { text: `${rounded > 0 ? '+' : '−'}${Math.abs(rounded).toFixed(1)}`, className: rounded > 0 ? 'grew' : 'shrank' };
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Size of each artifact on disk, of CPU (`prefix` '') or of one other kind (`page_faults.`); absent
 * ones (an incident without a baseline has no diff.svg) are left out.
 */
async function artifactSizes(api: DaemonApi, id: string, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const names: readonly string[] = prefix === '' ? INCIDENT_ARTIFACTS : KIND_ARTIFACTS.map((name) => `${prefix}${name}`);
  await Promise.all(
    names.map(async (name) => {
      const path = api.store.artifactPath(id, name);
      if (!path) return;
      try {
        const info = await stat(path);
        if (info.isFile()) sizes.set(name, info.size);
      } catch {
        // not written for this incident
      }
    }),
  );
  return sizes;
}

/** summary.json, or undefined when it is absent or not what summarizeIncident writes. */
async function readSummary(api: DaemonApi, id: string, name: string): Promise<IncidentSummary | undefined> {
  const path = api.store.artifactPath(id, name);
  if (!path) return undefined;
  try {
    return parseIncidentSummary(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}
