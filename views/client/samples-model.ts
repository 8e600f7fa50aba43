/**
 * The incident page's model of samples.json.gz (format `tail2-samples/1`, written by
 * daemon/formats/profile-samples.ts): every sample with its time, and every stack merged into one
 * call-path tree. Built once; every later cut by view and time range only adds counts along the
 * stacks' paths (aggregate.ts).
 */
import type { FlameStyleKind } from './flame-style.js';
import type { PageFacts } from './page-facts.js';

const FORMAT = 'tail2-samples/1';

/** A frame of samples.json.gz. */
export interface StoredFrame {
  name: string;
  kind: string;
  module?: string;
  file?: string;
  line?: number;
}

/** A stack of samples.json.gz: frame indexes root first, and its process. */
export interface StoredStack {
  frames: number[];
  pid: number;
  comm: string;
}

/** samples.json.gz, decoded. */
export interface StoredSamples {
  format: string;
  startTimeMs: number;
  durationNs: number;
  frames: StoredFrame[];
  stacks: StoredStack[];
  /** Per sample, its stack. */
  stack: number[];
  /** Per sample, ns since the previous one (the first: since startTimeMs). */
  timeDeltaNs: number[];
  /** What the weights count (`samples` for CPU, `bytes` for page faults…); absent in older files: samples. */
  unit?: string;
  /** Per sample, its weight in `unit`; absent when every sample weighs 1. */
  weight?: number[];
}

/** What a tree node stands for: frames with the same kind, module and name share one. */
export interface Identity {
  name: string;
  kind: FlameStyleKind;
  module?: string | undefined;
  file?: string | undefined;
  line?: number | undefined;
  /** Set on processes. */
  pid?: number;
}

/** Thrown for a file that is not `tail2-samples/1`. */
export class SamplesFormatError extends Error {
  override name = 'SamplesFormatError';
  readonly code = 'TAIL2_SAMPLES_FORMAT';
}

/**
 * Samples and the call-path tree. Times are ms since the window start. Node 0 is the root; a
 * stack's path is its process node, then its frames' nodes, root first.
 */
export interface Model {
  /** Length of the captured window, ms. */
  windowMs: number;
  /** When the rule fired. */
  firedT: number;
  /** When the condition began to hold (the baseline ends there), null when unknown or at the start. */
  heldT: number | null;
  sampleT: Float64Array;
  sampleStack: Uint32Array;
  /** Per sample, what it weighs in `unit`; null when every sample weighs 1 (CPU). */
  sampleWeight: Float64Array | null;
  /** What the amounts count: `samples`, `bytes`, `nanoseconds`, `events`, `calls`. */
  unit: string;
  /** Whether sampleT is in order (binary search applies). */
  sorted: boolean;
  identities: Identity[];
  nodeParent: Int32Array;
  nodeIdentity: Int32Array;
  nodeDepth: Int32Array;
  /** Children of node n: childList[childStart[n] … childStart[n + 1]), sorted by name. */
  childStart: Int32Array;
  childList: Int32Array;
  /** Path of stack s: pathNodes[pathStart[s] … pathStart[s + 1]). */
  pathStart: Int32Array;
  pathNodes: Int32Array;
  stackPid: Int32Array;
}

/** Seconds relative to fired_at, as the hash and the labels give times, of `t` ms since the window start. */
export const relSeconds = (m: Model, t: number): number => (t - m.firedT) / 1000;

/** The first index with `values[i] >= value` in sorted `values`. */
export function lowerBound(values: Float64Array, value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const FRAME_KINDS: readonly string[] = ['kernel', 'native', 'jit'];
/** The units samples.json.gz may give (daemon/model/profile-kind.ts). */
const UNITS: readonly string[] = ['samples', 'bytes', 'nanoseconds', 'events', 'calls'];

/**
 * Times become ms since the window start (the page's, else the file's); stacks become paths of
 * nodes in one tree where frames with the same kind, module and name under the same parent share
 * a node, the merge rule of flamegraph-layout.ts. Processes are told apart by pid and comm.
 * @throws SamplesFormatError when `stored` is not `tail2-samples/1`
 */
export function buildModel(stored: StoredSamples, page: PageFacts): Model {
  if (!stored || stored.format !== FORMAT) throw new SamplesFormatError(`not a ${FORMAT} file`);
  const { frames, stacks } = stored;
  const n = stored.stack.length;
  const windowFromMs = Number.isFinite(page.windowFromMs) ? page.windowFromMs : stored.startTimeMs;
  let windowToMs = Number.isFinite(page.windowToMs) ? page.windowToMs : stored.startTimeMs + stored.durationNs / 1e6;
  if (!(windowToMs > windowFromMs)) windowToMs = windowFromMs + 1000;

  const sampleT = new Float64Array(n);
  const sampleStack = new Uint32Array(n);
  // A weight that is not a finite, non-negative number (a damaged file) counts for nothing.
  const weights = Array.isArray(stored.weight) ? stored.weight : null;
  const sampleWeight = weights ? Float64Array.from({ length: n }, (_, i) => (Number.isFinite(weights[i]) && weights[i] >= 0 ? weights[i] : 0)) : null;
  const unit = typeof stored.unit === 'string' && UNITS.includes(stored.unit) ? stored.unit : 'samples';
  const offsetMs = stored.startTimeMs - windowFromMs;
  let ns = 0;
  let sorted = true;
  for (let i = 0; i < n; i++) {
    ns += Number(stored.timeDeltaNs[i]) || 0;
    sampleT[i] = offsetMs + ns / 1e6;
    if (i > 0 && sampleT[i] < sampleT[i - 1]) sorted = false;
    const s = stored.stack[i];
    sampleStack[i] = s >= 0 && s < stacks.length ? s : 0;
  }

  const identities: Identity[] = [{ name: 'all', kind: 'root' }];
  const identityByKey = new Map<string, number>();
  const intern = (key: string, make: () => Identity): number => {
    let id = identityByKey.get(key);
    if (id === undefined) {
      id = identities.length;
      identities.push(make());
      identityByKey.set(key, id);
    }
    return id;
  };
  const frameIdentity = Int32Array.from(frames, (f) => {
    const kind = (FRAME_KINDS.includes(f.kind) ? f.kind : 'unknown') as FlameStyleKind;
    const name = String(f.name);
    const id = intern(`f\0${kind}\0${f.module ?? ''}\0${name}`, () => ({ name, kind, module: f.module, file: f.file, line: f.line }));
    const known = identities[id];
    if (known.file !== f.file) known.file = undefined;
    if (known.file === undefined || known.line !== f.line) known.line = undefined;
    return id;
  });
  const unknownFrame = (): number => intern('f\0unknown\0\0[unknown]', () => ({ name: '[unknown]', kind: 'unknown' }));
  const stackPid = Int32Array.from(stacks, (s) => Number(s.pid) || 0);
  const stackProcess = Int32Array.from(stacks, (s, i) => {
    const comm = String(s.comm || '[unknown]');
    return intern(`p\0${stackPid[i]}\0${comm}`, () => ({ name: `${comm} (${stackPid[i]})`, kind: 'process', pid: stackPid[i] }));
  });
  for (const stack of stacks) for (const f of stack.frames) if (!(f >= 0 && f < frames.length)) unknownFrame();

  const tree = new NodeTable();
  const pathStart = new Int32Array(stacks.length + 1);
  const path: number[] = [];
  stacks.forEach((stack, s) => {
    pathStart[s] = path.length;
    let node = tree.child(0, stackProcess[s]);
    path.push(node);
    for (const f of stack.frames) path.push((node = tree.child(node, f >= 0 && f < frames.length ? frameIdentity[f] : unknownFrame())));
  });
  pathStart[stacks.length] = path.length;

  const nodes = tree.size;
  const parent = tree.parent.slice(0, nodes);
  const identity = tree.identity.slice(0, nodes);
  const { childStart, childList } = childrenByName(parent, identity, identities);
  const heldT = Number.isFinite(page.heldSinceMs) ? page.heldSinceMs - windowFromMs : null;
  return {
    windowMs: windowToMs - windowFromMs,
    firedT: Number.isFinite(page.firedAtMs) ? page.firedAtMs - windowFromMs : 0,
    heldT: heldT !== null && heldT > 0 ? heldT : null,
    sampleT,
    sampleStack,
    sampleWeight,
    unit,
    sorted,
    identities,
    nodeParent: parent,
    nodeIdentity: identity,
    nodeDepth: tree.depth.slice(0, nodes),
    childStart,
    childList,
    pathStart,
    pathNodes: Int32Array.from(path),
    stackPid,
  };
}

/**
 * Tree nodes in typed arrays, children found through an open-addressing hash of (parent,
 * identity): 10,000 stacks 30 deep make ~300,000 nodes, too many for a Map of composite keys to
 * be quick.
 */
class NodeTable {
  size = 1;
  parent = new Int32Array(4096).fill(-1, 0, 1);
  identity = new Int32Array(4096);
  depth = new Int32Array(4096);
  /** Node + 1 per slot, 0 when empty; kept at most half full. */
  private slots = new Int32Array(8192);

  /** The child of `at` with identity `id`, added when missing. */
  child(at: number, id: number): number {
    const mask = this.slots.length - 1;
    let slot = this.slotOf(at, id);
    for (let found = this.slots[slot] - 1; found >= 0; found = this.slots[slot] - 1) {
      if (this.parent[found] === at && this.identity[found] === id) return found;
      slot = (slot + 1) & mask;
    }
    if (this.size === this.parent.length) this.grow();
    const node = this.size++;
    this.parent[node] = at;
    this.identity[node] = id;
    this.depth[node] = this.depth[at] + 1;
    this.slots[slot] = node + 1;
    if (this.size * 2 > this.slots.length) this.rehash();
    return node;
  }

  private slotOf(at: number, id: number): number {
    const h = Math.imul(at, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca77);
    return (h ^ (h >>> 15)) & (this.slots.length - 1);
  }

  private grow(): void {
    const bigger = (old: Int32Array): Int32Array<ArrayBuffer> => {
      const grown = new Int32Array(old.length * 2);
      grown.set(old);
      return grown;
    };
    this.parent = bigger(this.parent);
    this.identity = bigger(this.identity);
    this.depth = bigger(this.depth);
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    const mask = this.slots.length - 1;
    for (let n = 1; n < this.size; n++) {
      let free = this.slotOf(this.parent[n], this.identity[n]);
      while (this.slots[free] !== 0) free = (free + 1) & mask;
      this.slots[free] = n + 1;
    }
  }
}

/** Each node's children sorted by name, as flamegraph.pl orders siblings; a box's self time is the gap right of them. */
function childrenByName(parent: Int32Array, identity: Int32Array, identities: Identity[]): { childStart: Int32Array; childList: Int32Array } {
  const nodes = parent.length;
  const rank = new Int32Array(identities.length);
  Int32Array.from(identities, (_, i) => i)
    .sort((a, b) => (identities[a].name < identities[b].name ? -1 : identities[a].name > identities[b].name ? 1 : a - b))
    .forEach((id, position) => (rank[id] = position));
  const childStart = new Int32Array(nodes + 1);
  for (let node = 1; node < nodes; node++) childStart[parent[node] + 1]++;
  for (let node = 0; node < nodes; node++) childStart[node + 1] += childStart[node];
  const fill = childStart.slice(0, nodes);
  const childList = new Int32Array(Math.max(0, nodes - 1));
  for (let node = 1; node < nodes; node++) childList[fill[parent[node]]++] = node;
  for (let node = 0; node < nodes; node++) {
    if (childStart[node + 1] - childStart[node] > 1) {
      childList.subarray(childStart[node], childStart[node + 1]).sort((a, b) => rank[identity[a]] - rank[identity[b]]);
    }
  }
  return { childStart, childList };
}
