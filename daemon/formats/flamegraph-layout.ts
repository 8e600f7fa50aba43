/**
 * Flamegraph layout: merges the stacks of a {@link SymbolizedProfile} into one call tree and
 * places every node as a rectangle in sample units. It knows nothing of pixels or SVG, so the
 * SVG, PNG and differential renderers all draw the same layout.
 */
import { weightPerStack, type FrameKind, type SymbolizedProfile } from '../profile/symbolized-profile.js';

/** What a flamegraph box stands for: the synthetic root, a process (`comm`), or a frame. */
export type FlameKind = 'root' | 'process' | FrameKind;

/** The merged identity of a box: frames with the same name, kind and module share one. */
export interface FlameIdentity {
  name: string;
  kind: FlameKind;
  module?: string;
  /** Source file, kept only when every merged frame agrees on it. */
  file?: string;
  /** Source line, kept only when every merged frame agrees on file and line. */
  line?: number;
}

/** One laid-out box. Horizontal positions are in samples, from the left edge of the root. */
export interface FlameRect {
  /** Index into {@link FlameLayout.identities}. */
  identity: number;
  /** 0 for the root, 1 for processes, 2 and up for frames (root-most first). */
  depth: number;
  /** Samples to the left of this box, counted from the left edge of the root. */
  start: number;
  /** Samples in this box and everything above it (its width). */
  samples: number;
  /** Index into {@link FlameLayout.rects} of the box below it; -1 for the root. */
  parent: number;
}

export interface FlameLayout {
  /** Samples under the root: the width of the whole graph. */
  totalSamples: number;
  /** Greatest depth among the emitted rects; 0 when the graph is only the root. */
  maxDepth: number;
  identities: FlameIdentity[];
  /**
   * Boxes in depth-first order, parents before their children, siblings left to right sorted by
   * name (a box's self time is the gap right of its children). Empty when there are no samples.
   */
  rects: FlameRect[];
}

export interface FlameLayoutOptions {
  /** Keep only stacks of this process id. */
  onlyPid?: number;
  /**
   * Boxes narrower than this share of the root (0–1) are left out, with everything above them;
   * their samples still count in their parents. Renderers pass `minWidthPx / graphWidthPx`.
   * @defaultValue 0 (keep all)
   */
  minFraction?: number;
}

/** Merges the profile's stacks into a call tree (root `all` → `comm` → frames) and lays it out. */
export function layoutFlamegraph(profile: SymbolizedProfile, options: FlameLayoutOptions = {}): FlameLayout {
  // Boxes are as wide as their weight (for CPU: their samples).
  const counts = weightPerStack(profile);
  const identities: FlameIdentity[] = [{ name: 'all', kind: 'root' }];

  // Frame table index → identity. Frames differing only in address, inlining or line merge.
  const frameIdentity = new Int32Array(profile.frames.length);
  const identityByKey = new Map<string, number>();
  profile.frames.forEach((frame, i) => {
    const key = `${frame.kind}\0${frame.module ?? ''}\0${frame.name}`;
    let id = identityByKey.get(key);
    if (id === undefined) {
      id = identities.length;
      identityByKey.set(key, id);
      identities.push({ name: frame.name, kind: frame.kind, module: frame.module, file: frame.file, line: frame.line });
    } else {
      const known = identities[id];
      if (known.file !== frame.file) known.file = undefined;
      if (known.file === undefined || known.line !== frame.line) known.line = undefined;
    }
    frameIdentity[i] = id;
  });

  const processIdentity = new Map<string, number>();
  const stackProcess = new Int32Array(profile.stacks.length).fill(-1);
  profile.stacks.forEach((stack, i) => {
    if (counts[i] === 0) return;
    if (options.onlyPid !== undefined && stack.pid !== options.onlyPid) return;
    let id = processIdentity.get(stack.comm);
    if (id === undefined) {
      id = identities.length;
      processIdentity.set(stack.comm, id);
      identities.push({ name: stack.comm, kind: 'process' });
    }
    stackProcess[i] = id;
  });

  const stacks = sortStacks(profile, stackProcess, frameIdentity, nameOrder(identities));
  return { ...placeRects(stacks, counts, options.minFraction ?? 0), identities };
}

/** The kept stacks as runs of identities, sorted by name, root first. */
interface SortedStacks {
  /** Profile stack indexes in sorted order. */
  order: Int32Array;
  /** Where each profile stack's run starts and ends in {@link SortedStacks.identities}. */
  first: Int32Array;
  end: Int32Array;
  /** Per stack: its process identity, then its frames' identities. */
  identities: Int32Array;
  /** Length of the longest run. */
  longest: number;
}

/**
 * Turns the kept stacks into runs of identities and sorts them by name, like the sorted folded
 * lines flamegraph.pl reads. A stack that is a prefix of another sorts after it, so a function's
 * self time ends up right of its callees.
 */
function sortStacks(
  profile: SymbolizedProfile,
  stackProcess: Int32Array,
  frameIdentity: Int32Array,
  names: NameOrder,
): SortedStacks {
  let keptCount = 0;
  let length = 0;
  let longest = 0;
  for (let s = 0; s < profile.stacks.length; s++) {
    if (stackProcess[s] < 0) continue;
    const stackLength = 1 + profile.stacks[s].frames.length;
    keptCount++;
    length += stackLength;
    if (stackLength > longest) longest = stackLength;
  }
  const order = new Int32Array(keptCount);
  const first = new Int32Array(profile.stacks.length);
  const end = new Int32Array(profile.stacks.length);
  // Name ranks while sorting, so comparing two stacks compares integers.
  const ranks = new Int32Array(length);
  let at = 0;
  let k = 0;
  for (let s = 0; s < profile.stacks.length; s++) {
    if (stackProcess[s] < 0) continue;
    order[k++] = s;
    first[s] = at;
    ranks[at++] = names.rank[stackProcess[s]];
    for (const frame of profile.stacks[s].frames) ranks[at++] = names.rank[frameIdentity[frame]];
    end[s] = at;
  }
  order.sort((a, b) => {
    const aEnd = end[a];
    const bEnd = end[b];
    for (let i = first[a], j = first[b]; i < aEnd && j < bEnd; i++, j++) {
      if (ranks[i] !== ranks[j]) return ranks[i] - ranks[j];
    }
    return bEnd - first[b] - (aEnd - first[a]);
  });
  const identities = ranks;
  for (let i = 0; i < length; i++) identities[i] = names.identityAt[ranks[i]];
  return { order, first, end, identities, longest };
}

/**
 * Walks the sorted stacks and emits the boxes of the merged tree in depth-first order, without
 * building the tree: all stacks through one box are adjacent, so a box starts at the samples of
 * the stacks before its first one and spans the stacks up to the first one that leaves its
 * prefix. Boxes too narrow to keep are never created, which matters when 50,000 stacks merge
 * into a million boxes of which a few thousand are wide enough to draw.
 */
function placeRects(stacks: SortedStacks, counts: Float64Array, minFraction: number): Omit<FlameLayout, 'identities'> {
  const { order, first, end, identities, longest } = stacks;
  const m = order.length;
  // before[k]: samples of the sorted stacks before k. shared[k]: run length stack k has in common
  // with stack k - 1.
  const before = new Float64Array(m + 1);
  const shared = new Int32Array(m);
  for (let k = 0; k < m; k++) {
    const s = order[k];
    before[k + 1] = before[k] + counts[s];
    if (k === 0) continue;
    const p = order[k - 1];
    const limit = Math.min(end[s] - first[s], end[p] - first[p]);
    let n = 0;
    while (n < limit && identities[first[s] + n] === identities[first[p] + n]) n++;
    shared[k] = n;
  }
  const totalSamples = before[m];
  if (totalSamples === 0) return { totalSamples: 0, maxDepth: 0, rects: [] };

  const minSamples = minFraction * totalSamples;
  const rects: FlameRect[] = [{ identity: 0, depth: 0, start: 0, samples: totalSamples, parent: -1 }];
  let maxDepth = 0;
  // rectAt[d]: the box of run entry d (depth d + 1) along the current stack, valid for d < keptTo.
  const rectAt = new Int32Array(longest);
  let keptTo = 0;
  for (let k = 0; k < m; k++) {
    const s = order[k];
    // Sharing a box the previous stack could not keep: this stack is inside a pruned box too.
    if (shared[k] > keptTo) continue;
    keptTo = shared[k];
    for (let d = shared[k]; d < end[s] - first[s]; d++) {
      let runEnd = k + 1;
      while (runEnd < m && shared[runEnd] > d) runEnd++;
      const samples = before[runEnd] - before[k];
      if (samples < minSamples) break;
      rectAt[d] = rects.length;
      keptTo = d + 1;
      if (d + 1 > maxDepth) maxDepth = d + 1;
      rects.push({
        identity: identities[first[s] + d],
        depth: d + 1,
        start: before[k],
        samples,
        parent: d === 0 ? 0 : rectAt[d - 1],
      });
    }
  }
  return { totalSamples, maxDepth, rects };
}

/** Identities sorted by name, so stack sorting and sibling order compare integers. */
interface NameOrder {
  /** Identity → its position in name order. */
  rank: Int32Array;
  /** Position in name order → identity. */
  identityAt: Int32Array;
}

function nameOrder(identities: FlameIdentity[]): NameOrder {
  const identityAt = Int32Array.from(identities, (_, i) => i);
  identityAt.sort((a, b) => {
    const x = identities[a].name;
    const y = identities[b].name;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  const rank = new Int32Array(identities.length);
  identityAt.forEach((identity, position) => (rank[identity] = position));
  return { rank, identityAt };
}
