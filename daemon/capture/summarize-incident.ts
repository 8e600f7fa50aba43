/**
 * The incident's numbers in a few dozen lines of JSON (summary.json): the hottest functions, the
 * busiest processes, and what changed since the baseline window. Computed once when the incident
 * is written; notifications and the incident page read it instead of re-reading the samples.
 *
 * Functions are compared as functions, not as call paths (the differential flamegraph does
 * paths): a function reached from two callers is one line here, with both callers' samples.
 */
import { PROFILE_KINDS } from '../model/profile-kind.js';
import { totalWeight, weightPerStack, type Frame, type FrameKind, type SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { FunctionChange, FunctionShare, IdleSummary, IncidentSummary, ProcessShare } from '../model/incident-summary.js';

const TOP_FUNCTIONS = 20;
const TOP_PROCESSES = 10;
const TOP_CHANGES = 5;

/** What the rule watched, when not the whole host: the function figures describe it alone. */
export interface SummaryScope {
  /** The processes whose samples count: the watched process, or the cgroup's processes. */
  pids: ReadonlySet<number>;
  /** The process the rule watched. */
  pid?: number;
  /** The cgroup the rule watched (path below the mount), and its systemd unit when it is one. */
  cgroup?: string;
  unit?: string;
}

export interface SummaryOptions {
  /** Scopes the function figures to what the rule watched. @defaultValue every process */
  scope?: SummaryScope;
  /** How idle the CPUs were (CPU summaries of incidents). */
  idle?: IdleSummary;
}

/**
 * Summarizes the trigger window, compared with the baseline window (the minutes before) when
 * there is one. A number for `options` is the pid of the one process the figures describe.
 */
export function summarizeIncident(trigger: SymbolizedProfile, baseline: SymbolizedProfile | undefined, options: SummaryOptions | number = {}): IncidentSummary {
  const { scope, idle } = typeof options === 'number' ? { scope: { pids: new Set([options]), pid: options }, idle: undefined } : options;
  const pids = scope?.pids;
  const table = new FunctionTable();
  const triggerFrames = table.internFrames(trigger);
  const baselineFrames = baseline ? table.internFrames(baseline) : undefined;
  const triggerCounts = weightPerStack(trigger);
  const after = tally(trigger, triggerCounts, triggerFrames, table.size, pids);
  const before = baseline && baselineFrames ? tally(baseline, weightPerStack(baseline), baselineFrames, table.size, pids) : undefined;

  // Selected by id over plain arrays; objects are built only for what is listed (a 50,000-stack
  // window has tens of thousands of functions).
  const functionShare = (f: number): FunctionShare => {
    const entry: FunctionShare = { ...table.info[f], selfShare: share(after.self[f], after.samples), totalShare: share(after.total[f], after.samples) };
    if (before) {
      entry.selfShareBefore = share(before.self[f], before.samples);
      entry.totalShareBefore = share(before.total[f], before.samples);
      entry.change = (entry.selfShare - entry.selfShareBefore) * 100;
      entry.totalChange = (entry.totalShare - entry.totalShareBefore) * 100;
    }
    return entry;
  };
  const selfChange = (f: number): number => (before ? (share(after.self[f], after.samples) - share(before.self[f], before.samples)) * 100 : 0);
  const name = (f: number): string => table.info[f].name;

  const processes = topProcesses(trigger, triggerCounts);
  const summary: IncidentSummary = {
    kind: trigger.kind,
    unit: PROFILE_KINDS[trigger.kind].unit,
    samples: trigger.samples.stack.length,
    topFunctions: {
      bySelf: topIds(table.size, (f) => after.self[f], name, TOP_FUNCTIONS).map(functionShare),
      byTotal: topIds(table.size, (f) => after.total[f], name, TOP_FUNCTIONS).map(functionShare),
    },
    topProcesses: processes.slice(0, TOP_PROCESSES),
    grew: [],
    shrank: [],
  };
  if (baseline && before) {
    summary.baselineSamples = baseline.samples.stack.length;
    summary.grew = topIds(table.size, selfChange, name, TOP_CHANGES).map((f) => toChange(functionShare(f)));
    summary.shrank = topIds(table.size, (f) => -selfChange(f), name, TOP_CHANGES).map((f) => toChange(functionShare(f)));
  }
  if (idle) summary.idle = idle;
  if (scope) {
    const comm = scope.pid === undefined ? undefined : processes.find((p) => p.pid === scope.pid)?.comm;
    summary.scope = {
      ...(scope.pid === undefined ? {} : { pid: scope.pid }),
      ...(comm === undefined ? {} : { comm }),
      ...(scope.cgroup === undefined ? {} : { cgroup: scope.cgroup }),
      ...(scope.unit === undefined ? {} : { unit: scope.unit }),
      samples: after.samples,
    };
    if (scope.pid === undefined) summary.scope.processes = processes.filter((p) => scope.pids.has(p.pid)).length;
    if (before) summary.scope.baselineSamples = before.samples;
  }
  return summary;
}

/** Functions of both windows, merged the way the flamegraph merges boxes: by kind, module and name. */
class FunctionTable {
  readonly info: Array<{ name: string; module?: string; kind: FrameKind }> = [];
  /** kind and module → name → id: names are hashed as they are, never concatenated into keys. */
  private readonly ids = new Map<string, Map<string, number>>();

  get size(): number {
    return this.info.length;
  }

  /** The function id of each frame of the profile's frame table. */
  internFrames(profile: SymbolizedProfile): Int32Array {
    return Int32Array.from(profile.frames, (frame) => this.intern(frame));
  }

  private intern(frame: Frame): number {
    const place = `${frame.kind}\0${frame.module ?? ''}`;
    let byName = this.ids.get(place);
    if (!byName) this.ids.set(place, (byName = new Map()));
    let id = byName.get(frame.name);
    if (id === undefined) {
      id = this.info.length;
      byName.set(frame.name, id);
      this.info.push(frame.module === undefined ? { name: frame.name, kind: frame.kind } : { name: frame.name, module: frame.module, kind: frame.kind });
    }
    return id;
  }
}

interface Tally {
  /** Samples counted (of the scoped process, when there is one). */
  samples: number;
  /** Per function id: samples with it as the leaf, and samples with it anywhere on the stack. */
  self: Float64Array;
  total: Float64Array;
}

/** Self and total samples per function, per unique stack rather than per sample. */
function tally(profile: SymbolizedProfile, counts: Float64Array, functionOf: Int32Array, functions: number, pids: ReadonlySet<number> | undefined): Tally {
  const self = new Float64Array(functions);
  const total = new Float64Array(functions);
  // lastStack[f]: the last stack that counted f in `total`, so a recursive function is counted
  // once per sample however many times it is on the stack.
  const lastStack = new Int32Array(functions).fill(-1);
  let samples = 0;
  profile.stacks.forEach((stack, s) => {
    const count = counts[s];
    if (count === 0 || (pids !== undefined && !pids.has(stack.pid))) return;
    samples += count;
    for (const frame of stack.frames) {
      const f = functionOf[frame];
      if (lastStack[f] === s) continue;
      lastStack[f] = s;
      total[f] += count;
    }
    if (stack.frames.length > 0) self[functionOf[stack.frames[stack.frames.length - 1]]] += count;
  });
  return { samples, self, total };
}

/** Every process of the window, busiest first. */
function topProcesses(profile: SymbolizedProfile, counts: Float64Array): ProcessShare[] {
  const byPid = new Map<number, { samples: number; comms: Map<string, number> }>();
  profile.stacks.forEach((stack, s) => {
    if (counts[s] === 0) return;
    let entry = byPid.get(stack.pid);
    if (!entry) byPid.set(stack.pid, (entry = { samples: 0, comms: new Map() }));
    entry.samples += counts[s];
    entry.comms.set(stack.comm, (entry.comms.get(stack.comm) ?? 0) + counts[s]);
  });
  const total = totalWeight(profile);
  const processes = [...byPid].map(([pid, { samples, comms }]) => ({ pid, comm: busiest(comms), samples, share: share(samples, total) }));
  return processes.sort((a, b) => b.samples - a.samples || a.pid - b.pid);
}

/** The thread name with the most samples; threads of one process often carry different names. */
function busiest(comms: Map<string, number>): string {
  let best = '';
  let most = -1;
  for (const [comm, samples] of comms) {
    if (samples > most || (samples === most && comm < best)) [best, most] = [comm, samples];
  }
  return best;
}

function toChange(s: FunctionShare): FunctionChange {
  const { name, module, kind, selfShare } = s;
  return { name, ...(module === undefined ? {} : { module }), kind, selfShareBefore: s.selfShareBefore ?? 0, selfShare, change: s.change ?? 0 };
}

/**
 * The ids (0 to `count` − 1) of the `n` largest positive `key`s, largest first, ties by name so
 * the output is stable. One pass keeping a short sorted list: no sort of every function.
 */
function topIds(count: number, key: (id: number) => number, name: (id: number) => string, n: number): number[] {
  const best: number[] = [];
  const before = (a: number, b: number): boolean => key(a) > key(b) || (key(a) === key(b) && name(a) < name(b));
  for (let id = 0; id < count; id++) {
    if (!(key(id) > 0)) continue;
    if (best.length === n && !before(id, best[n - 1])) continue;
    let at = best.length;
    while (at > 0 && before(id, best[at - 1])) at--;
    best.splice(at, 0, id);
    if (best.length > n) best.pop();
  }
  return best;
}

function share(samples: number, total: number): number {
  return total === 0 ? 0 : samples / total;
}
