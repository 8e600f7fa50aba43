/**
 * Differential flamegraph: the trigger window's flamegraph (box widths are its samples), each box
 * coloured by how the share of samples with that call path changed since the baseline window —
 * red grew, blue shrank, grey unchanged. Shares, not sample counts, are compared, so a baseline
 * of a different length or with more idle CPUs still compares fairly.
 *
 * It is the interactive SVG flamegraph (same layout, zoom, search, escaping) with a paint hook;
 * the colours are views/client/flame-style.ts's, as on the incident page's diff view.
 */
import { DIFF_LEGEND, diffColor, FULL_COLOUR_POINTS } from '../../views/client/flame-style.js';
import { weightPerStack, type SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { FlameKind, FlameLayout } from './flamegraph-layout.js';
import { renderFlamegraphSvg, type FramePainter } from './flamegraph-svg.js';

/** One call path (process, then frames root first) and its share in both windows. */
export interface FrameDiff {
  name: string;
  kind: FlameKind;
  module?: string;
  /** The path one level down (the caller); undefined for a process (`comm`) entry. */
  caller: FrameDiff | undefined;
  /** Samples with this path on the stack, in the baseline and in the trigger window. */
  samplesBefore: number;
  samplesAfter: number;
  /** Those samples as a share (0–1) of all samples of their window. */
  before: number;
  after: number;
  /** `after - before` in percentage points (−100 to +100). */
  change: number;
  /** The baseline never had this path. */
  isNew: boolean;
}

export interface DiffFlamegraphOptions {
  /** Heading line. */
  title: string;
  /** Second line. @defaultValue sample counts of both windows and how to read the colours */
  subtitle?: string;
  /** Image width in pixels. @defaultValue 1200 */
  width?: number;
}

/** The names from the process down to this entry, e.g. `['postgres', 'main', 'new_hot']`. */
export function framePath(diff: FrameDiff): string[] {
  const path: string[] = [];
  for (let at: FrameDiff | undefined = diff; at; at = at.caller) path.push(at.name);
  return path.reverse();
}

/**
 * Every call path of either window with its share before (baseline) and after (trigger),
 * callers before their callees. Paths only in the baseline are included with `after` 0.
 */
export function diffFrames(trigger: SymbolizedProfile, baseline: SymbolizedProfile): FrameDiff[] {
  const tree = new PathTree(trigger, baseline);
  const diffs: FrameDiff[] = [];
  for (let node = 1; node < tree.size; node++) {
    const { name, kind, module } = tree.keys[tree.key[node]];
    const before = share(tree.before[node], tree.baselineTotal);
    const after = share(tree.after[node], tree.triggerTotal);
    diffs.push({
      name,
      kind,
      ...(module === undefined ? {} : { module }),
      caller: tree.parent[node] === 0 ? undefined : diffs[tree.parent[node] - 1],
      samplesBefore: tree.before[node],
      samplesAfter: tree.after[node],
      before,
      after,
      change: (after - before) * 100,
      isNew: tree.before[node] === 0,
    });
  }
  return diffs;
}

/**
 * Renders the differential flamegraph as a standalone, interactive SVG document. Each box's
 * tooltip reads "name: 12.0% → 31.5% (+19.5 points)", with "new" for paths the baseline lacks.
 */
export function renderDiffFlamegraphSvg(trigger: SymbolizedProfile, baseline: SymbolizedProfile, options: DiffFlamegraphOptions): string {
  const tree = new PathTree(trigger, baseline);
  const subtitle =
    options.subtitle ??
    `share of samples, baseline (${tree.baselineTotal.toLocaleString('en-US')} samples) → incident (${tree.triggerTotal.toLocaleString('en-US')} samples); ` +
      'width: incident; red grew, blue shrank';
  return renderFlamegraphSvg(trigger, {
    title: options.title,
    subtitle,
    width: options.width,
    legend: DIFF_LEGEND,
    paint: (layout) => diffPainter(layout, tree),
  });
}

// ---------------------------------------------------------------------------------------------
// The merged call-path tree of both windows.

interface PathKey {
  name: string;
  kind: FlameKind;
  module?: string;
}

/**
 * Both windows' stacks merged into one tree of call paths; node 0 is the root. 50,000 stacks 20
 * deep make up to a million nodes, so nodes live in typed arrays and children are found through
 * an open-addressing hash of (parent, key) rather than a Map of objects or composite keys.
 */
class PathTree {
  /** What each key stands for; frames with the same kind, module and name (the layout's merge rule) share a key. */
  readonly keys: PathKey[] = [];
  triggerTotal = 0;
  baselineTotal = 0;
  size = 1;
  parent = new Int32Array(1024).fill(-1, 0, 1);
  key = new Int32Array(1024).fill(-1, 0, 1);
  before = new Float64Array(1024);
  after = new Float64Array(1024);
  /** kind and module → name → key: names are hashed as they are, never concatenated. */
  private readonly keyIds = new Map<string, Map<string, number>>();
  /** Node id + 1 per slot, 0 when empty; kept at most half full. */
  private slots = new Int32Array(2048);

  constructor(trigger: SymbolizedProfile, baseline: SymbolizedProfile) {
    this.triggerTotal = this.addWindow(trigger, 'after');
    this.baselineTotal = this.addWindow(baseline, 'before');
  }

  /** The key of a frame or process, or -1 when neither window has it and `create` is false. */
  keyOf(kind: FlameKind, module: string | undefined, name: string, create: boolean): number {
    const place = `${kind}\0${module ?? ''}`;
    let byName = this.keyIds.get(place);
    if (!byName) {
      if (!create) return -1;
      this.keyIds.set(place, (byName = new Map()));
    }
    let id = byName.get(name);
    if (id === undefined) {
      if (!create) return -1;
      id = this.keys.length;
      byName.set(name, id);
      this.keys.push(module === undefined ? { name, kind } : { name, kind, module });
    }
    return id;
  }

  /** The child of `node` with `key`, added when missing and `create` is set; -1 when missing. */
  child(node: number, key: number, create: boolean): number {
    const mask = this.slots.length - 1;
    let slot = (Math.imul(node, 0x9e3779b1) ^ Math.imul(key, 0x85ebca77)) & mask;
    for (;;) {
      const found = this.slots[slot] - 1;
      if (found < 0) break;
      if (this.parent[found] === node && this.key[found] === key) return found;
      slot = (slot + 1) & mask;
    }
    if (!create) return -1;
    const added = this.size++;
    if (added === this.parent.length) this.growNodes();
    this.parent[added] = node;
    this.key[added] = key;
    this.slots[slot] = added + 1;
    if (this.size * 2 > this.slots.length) this.rehash();
    return added;
  }

  /** Adds a window's samples (their weights: for CPU, one each) to its column and returns the window's total. */
  private addWindow(profile: SymbolizedProfile, column: 'before' | 'after'): number {
    const counts = weightPerStack(profile);
    const frameKey = Int32Array.from(profile.frames, (f) => this.keyOf(f.kind, f.module, f.name, true));
    const processKey = new Map<string, number>();
    let total = 0;
    profile.stacks.forEach((stack, s) => {
      const count = counts[s];
      if (count === 0) return;
      total += count;
      let key = processKey.get(stack.comm);
      if (key === undefined) processKey.set(stack.comm, (key = this.keyOf('process', undefined, stack.comm, true)));
      let node = this.child(0, key, true);
      const path = [node];
      for (const frame of stack.frames) path.push((node = this.child(node, frameKey[frame], true)));
      // Read after the walk: adding nodes may have replaced the arrays with larger ones.
      const samples = this[column];
      samples[0] += count;
      for (const n of path) samples[n] += count;
    });
    return total;
  }

  private growNodes(): void {
    const grow = <T extends Int32Array | Float64Array>(old: T): T => {
      const bigger = new (old.constructor as new (length: number) => T)(old.length * 2);
      bigger.set(old);
      return bigger;
    };
    this.parent = grow(this.parent);
    this.key = grow(this.key);
    this.before = grow(this.before);
    this.after = grow(this.after);
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    const mask = this.slots.length - 1;
    for (let node = 1; node < this.size; node++) {
      let slot = (Math.imul(this.parent[node], 0x9e3779b1) ^ Math.imul(this.key[node], 0x85ebca77)) & mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[slot] = node + 1;
    }
  }
}

function share(samples: number, total: number): number {
  return total === 0 ? 0 : samples / total;
}

// ---------------------------------------------------------------------------------------------
// Colours and tooltips.

function diffPainter(layout: FlameLayout, tree: PathTree): FramePainter {
  const { rects, identities } = layout;
  // Layout boxes → tree nodes, walking down from the root: each box's path is its parent's plus
  // its own identity, and the layout lists parents first.
  const nodeOf = new Int32Array(rects.length);
  const change = new Float64Array(rects.length);
  let largest = 0;
  for (let i = 1; i < rects.length; i++) {
    const identity = identities[rects[i].identity];
    const key = tree.keyOf(identity.kind, identity.module, identity.name, false);
    const parent = nodeOf[rects[i].parent];
    nodeOf[i] = key < 0 || parent < 0 ? -1 : tree.child(parent, key, false);
    change[i] = nodeOf[i] < 0 ? 0 : (share(tree.after[nodeOf[i]], tree.triggerTotal) - share(tree.before[nodeOf[i]], tree.baselineTotal)) * 100;
    largest = Math.max(largest, Math.abs(change[i]));
  }
  const scale = Math.max(largest, FULL_COLOUR_POINTS);
  return {
    fill: (i) => diffColor(change[i], scale),
    summary: (i) => {
      const node = nodeOf[i];
      if (node < 0) return '';
      const before = share(tree.before[node], tree.baselineTotal);
      const after = share(tree.after[node], tree.triggerTotal);
      const from = tree.before[node] === 0 ? 'new' : `${(before * 100).toFixed(1)}%`;
      const points = (after - before) * 100;
      return `: ${from} → ${(after * 100).toFixed(1)}% (${points < 0 ? '-' : '+'}${Math.abs(points).toFixed(1)} points)`;
    },
  };
}
