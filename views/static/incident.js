// @ts-check
/**
 * Incident page client: a FlameScope-style heatmap of the incident's samples over time and an
 * interactive flamegraph of the samples of the selected time range, drawn from samples.json.gz
 * (format `tail2-samples/1`, see daemon/formats/profile-samples.ts).
 *
 * Orientation: icicle (root at the top, callees below), as pprof and speedscope draw it, so the
 * root and process rows sit right under the toolbar and deep stacks grow down the page instead of
 * pushing the root off screen. Colours are those of the SVG flamegraph (flamegraph-svg.ts) and
 * the differential one (diff-flamegraph.ts).
 *
 * Every name in the profile (symbols, comms, module paths) is untrusted: it only ever reaches the
 * page through textContent, setAttribute or a title attribute. The page runs under a strict CSP,
 * so styles are set through the CSSOM (element.style.x) and no handler is inline.
 *
 * View state lives in location.hash: view=all|process|diff, from/to (seconds relative to
 * fired_at), q (search), zoom (frame names from the process down, `;`-separated, `\` escapes).
 */
(function () {
  'use strict';

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const FORMAT = 'tail2-samples/1';
  const MINUS = '\u2212';
  /** Flamegraph row pitch: a 16 px box and a 1 px gap. */
  const ROW_HEIGHT = 17;
  /** Frames narrower than this are not drawn; their samples still count in their parents. */
  const MIN_FRAME_PX = 0.5;
  /** Narrower frames get no label: the ellipsis alone would only be noise. */
  const MIN_LABEL_PX = 22;
  /** Heatmap columns widen (1 s, 2 s, 5 s …) until a cell is at least this wide. */
  const MIN_CELL_PX = 6;
  const HEAT_ROWS = 10;
  const HEAT_ROW_PX = 14;
  const HEAT_MARGIN = { left: 52, right: 10, top: 22 };
  const COLUMN_MS = [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];
  const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const HEAT_PALETTE = /** @type {const} */ ([
    [255, 237, 160],
    [254, 178, 76],
    [240, 59, 32],
    [128, 0, 38],
  ]);

  const dataEl = document.getElementById('incident-data');
  if (!dataEl) return;

  // -------------------------------------------------------------------------------------------
  // Page facts (the server's contract: data attributes of #incident-data).

  /** @param {string | undefined} text */
  const parseTime = (text) => (text ? Date.parse(text) : NaN);
  /** @param {string | undefined} text */
  const parsePid = (text) => (text && /^\d+$/.test(text) ? Number(text) : null);

  const page = {
    samplesUrl: dataEl.dataset.samplesUrl || '',
    firedAtMs: parseTime(dataEl.dataset.firedAt),
    heldSinceMs: parseTime(dataEl.dataset.heldSince),
    windowFromMs: parseTime(dataEl.dataset.windowFrom),
    windowToMs: parseTime(dataEl.dataset.windowTo),
    pid: parsePid(dataEl.dataset.pid),
    comm: dataEl.dataset.comm || '',
  };

  const heatmapEl = document.getElementById('heatmap');
  const selectionEl = document.getElementById('heatmap-selection');
  const toolbarEl = document.getElementById('flamegraph-toolbar');
  const flameEl = document.getElementById('flamegraph');
  const copyButton = /** @type {HTMLButtonElement | null} */ (document.getElementById('copy-link'));

  // -------------------------------------------------------------------------------------------
  // The model: samples with their time, and every stack merged into one call-path tree.

  /**
   * @typedef {{ name: string, kind: string, module?: string, file?: string, line?: number, pid?: number }} Identity
   * @typedef {{ name: string, kind: string, module?: string, file?: string, line?: number }} StoredFrame
   * @typedef {{ frames: number[], pid: number, comm: string }} StoredStack
   * @typedef {{ format: string, startTimeMs: number, durationNs: number, frames: StoredFrame[], stacks: StoredStack[], stack: number[], timeDeltaNs: number[] }} StoredSamples
   * @typedef {{
   *   windowMs: number, firedT: number, heldT: number | null,
   *   sampleT: Float64Array, sampleStack: Uint32Array, sorted: boolean,
   *   identities: Identity[], nodeParent: Int32Array, nodeIdentity: Int32Array, nodeDepth: Int32Array,
   *   childStart: Int32Array, childList: Int32Array,
   *   pathStart: Int32Array, pathNodes: Int32Array, stackPid: Int32Array,
   * }} Model
   * @typedef {{ nodeCount: Float64Array, stackCount: Uint32Array, total: number }} Aggregate
   */

  /**
   * Times become ms since the window start; stacks become paths of nodes (process, then frames
   * root first) in one tree where frames with the same kind, module and name under the same
   * parent share a node, the merge rule of flamegraph-layout.ts. Done once: every later cut by
   * view and time range only adds counts along these paths.
   * @param {StoredSamples} stored
   * @returns {Model}
   */
  function buildModel(stored) {
    if (!stored || stored.format !== FORMAT) throw new Error(`not a ${FORMAT} file`);
    const { frames, stacks } = stored;
    const n = stored.stack.length;
    const windowFromMs = Number.isFinite(page.windowFromMs) ? page.windowFromMs : stored.startTimeMs;
    let windowToMs = Number.isFinite(page.windowToMs) ? page.windowToMs : stored.startTimeMs + stored.durationNs / 1e6;
    if (!(windowToMs > windowFromMs)) windowToMs = windowFromMs + 1000;

    const sampleT = new Float64Array(n);
    const sampleStack = new Uint32Array(n);
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

    /** @type {Identity[]} */
    const identities = [{ name: 'all', kind: 'root' }];
    /** @type {Map<string, number>} */
    const identityByKey = new Map();
    /** @param {string} key @param {() => Identity} make */
    const intern = (key, make) => {
      let id = identityByKey.get(key);
      if (id === undefined) {
        id = identities.length;
        identities.push(make());
        identityByKey.set(key, id);
      }
      return id;
    };
    const frameIdentity = Int32Array.from(frames, (f) => {
      const kind = ['kernel', 'native', 'jit'].includes(f.kind) ? f.kind : 'unknown';
      const name = String(f.name);
      const id = intern(`f\0${kind}\0${f.module ?? ''}\0${name}`, () => ({ name, kind, module: f.module, file: f.file, line: f.line }));
      const known = identities[id];
      if (known.file !== f.file) known.file = undefined;
      if (known.file === undefined || known.line !== f.line) known.line = undefined;
      return id;
    });
    const unknownFrame = () => intern('f\0unknown\0\0[unknown]', () => ({ name: '[unknown]', kind: 'unknown' }));
    const stackPid = Int32Array.from(stacks, (s) => Number(s.pid) || 0);
    const stackProcess = Int32Array.from(stacks, (s, i) => {
      const comm = String(s.comm || '[unknown]');
      return intern(`p\0${stackPid[i]}\0${comm}`, () => ({ name: `${comm} (${stackPid[i]})`, kind: 'process', pid: stackPid[i] }));
    });
    for (const stack of stacks) for (const f of stack.frames) if (!(f >= 0 && f < frames.length)) unknownFrame();

    // Nodes in typed arrays, children found through an open-addressing hash of (parent, identity):
    // 10,000 stacks 30 deep make ~300,000 nodes, too many for a Map of composite keys to be quick.
    let capacity = 4096;
    let parent = new Int32Array(capacity);
    let identity = new Int32Array(capacity);
    let depth = new Int32Array(capacity);
    parent[0] = -1;
    let nodes = 1;
    /** Node + 1 per slot, 0 when empty; kept at most half full. */
    let slots = new Int32Array(capacity * 2);
    /** @param {number} at @param {number} id */
    const slotOf = (at, id) => {
      const h = Math.imul(at, 0x9e3779b1) ^ Math.imul(id + 1, 0x85ebca77);
      return (h ^ (h >>> 15)) & (slots.length - 1);
    };
    /** @param {number} at @param {number} id */
    const child = (at, id) => {
      const mask = slots.length - 1;
      let slot = slotOf(at, id);
      for (let found = slots[slot] - 1; found >= 0; found = slots[slot] - 1) {
        if (parent[found] === at && identity[found] === id) return found;
        slot = (slot + 1) & mask;
      }
      if (nodes === capacity) {
        capacity *= 2;
        /** @param {Int32Array} old */
        const grow = (old) => {
          const bigger = new Int32Array(capacity);
          bigger.set(old);
          return bigger;
        };
        parent = grow(parent);
        identity = grow(identity);
        depth = grow(depth);
      }
      const node = nodes++;
      parent[node] = at;
      identity[node] = id;
      depth[node] = depth[at] + 1;
      slots[slot] = node + 1;
      if (nodes * 2 > slots.length) {
        slots = new Int32Array(slots.length * 2);
        for (let n = 1; n < nodes; n++) {
          let free = slotOf(parent[n], identity[n]);
          while (slots[free] !== 0) free = (free + 1) & (slots.length - 1);
          slots[free] = n + 1;
        }
      }
      return node;
    };
    const pathStart = new Int32Array(stacks.length + 1);
    /** @type {number[]} */ const path = [];
    stacks.forEach((stack, s) => {
      pathStart[s] = path.length;
      let node = child(0, stackProcess[s]);
      path.push(node);
      for (const f of stack.frames) path.push((node = child(node, f >= 0 && f < frames.length ? frameIdentity[f] : unknownFrame())));
    });
    pathStart[stacks.length] = path.length;

    // Children by name, as flamegraph.pl orders siblings; a box's self time is the gap right of them.
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

    const heldT = Number.isFinite(page.heldSinceMs) ? page.heldSinceMs - windowFromMs : null;
    return {
      windowMs: windowToMs - windowFromMs,
      firedT: Number.isFinite(page.firedAtMs) ? page.firedAtMs - windowFromMs : 0,
      heldT: heldT !== null && heldT > 0 ? heldT : null,
      sampleT,
      sampleStack,
      sorted,
      identities,
      nodeParent: parent.slice(0, nodes),
      nodeIdentity: identity.slice(0, nodes),
      nodeDepth: depth.slice(0, nodes),
      childStart,
      childList,
      pathStart,
      pathNodes: Int32Array.from(path),
      stackPid,
    };
  }

  /** @param {Float64Array} values @param {number} value first index with values[i] >= value */
  function lowerBound(values, value) {
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (values[mid] < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** @type {Map<string, Aggregate>} */
  const aggregates = new Map();

  /**
   * Samples per tree node for one process (or all) and one time range [t0, t1) in ms since the
   * window start. A few of these are kept: toggling views or zooming reuses them.
   * @param {Model} m @param {number | null} pid @param {number} t0 @param {number} t1
   * @returns {Aggregate}
   */
  function aggregate(m, pid, t0, t1) {
    const key = `${pid}|${t0}|${t1}`;
    const known = aggregates.get(key);
    if (known) return known;
    const stackCount = new Uint32Array(m.pathStart.length - 1);
    if (m.sorted) {
      for (let i = lowerBound(m.sampleT, t0), end = lowerBound(m.sampleT, t1); i < end; i++) stackCount[m.sampleStack[i]]++;
    } else {
      for (let i = 0; i < m.sampleT.length; i++) if (m.sampleT[i] >= t0 && m.sampleT[i] < t1) stackCount[m.sampleStack[i]]++;
    }
    const nodeCount = new Float64Array(m.nodeParent.length);
    let total = 0;
    for (let s = 0; s < stackCount.length; s++) {
      const count = stackCount[s];
      if (count === 0) continue;
      if (pid !== null && m.stackPid[s] !== pid) {
        stackCount[s] = 0;
        continue;
      }
      total += count;
      for (let k = m.pathStart[s]; k < m.pathStart[s + 1]; k++) nodeCount[m.pathNodes[k]] += count;
    }
    nodeCount[0] = total;
    const result = { nodeCount, stackCount, total };
    if (aggregates.size >= 8) aggregates.delete(/** @type {string} */ (aggregates.keys().next().value));
    aggregates.set(key, result);
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Formatting.

  /** @param {number} seconds @param {number} digits */
  function formatSeconds(seconds, digits) {
    const text = Math.abs(seconds).toFixed(digits);
    if (Number(text) === 0) return `${(0).toFixed(digits)} s`;
    return `${seconds < 0 ? MINUS : '+'}${text} s`;
  }

  /** @param {number} part @param {number} whole */
  function percent(part, whole) {
    if (whole <= 0) return '0%';
    const value = (part * 100) / whole;
    return `${value >= 10 ? value.toFixed(1) : value >= 0.01 || value === 0 ? String(Math.round(value * 100) / 100) : value.toPrecision(2)}%`;
  }

  /** 12345 → "12,345" (toLocaleString is ~50× slower, and runs once per drawn frame). @param {number} n */
  const thousands = (n) => {
    const text = String(n);
    return text.length <= 3 ? text : text.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  };
  /** @param {number} n @param {string} what */
  const plural = (n, what) => `${thousands(n)} ${what}${n === 1 ? '' : 's'}`;

  // -------------------------------------------------------------------------------------------
  // Colours, as flamegraph-svg.ts and diff-flamegraph.ts pick them.

  /** @type {Record<string, readonly number[]>} */
  const PALETTES = {
    root: [200, 0, 200, 0, 210, 0],
    process: [110, 30, 150, 30, 205, 35],
    kernel: [225, 30, 135, 55, 0, 45],
    native: [205, 50, 50, 70, 45, 45],
    jit: [50, 60, 190, 60, 50, 50],
    unknown: [165, 45, 165, 45, 165, 45],
  };

  /** @param {string} kind @param {string} name */
  function flameColor(kind, name) {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    h >>>= 0;
    const p = PALETTES[kind] ?? PALETTES.unknown;
    const v1 = (h & 0xff) / 255;
    const v = kind === 'unknown' ? [v1, v1, v1] : [v1, ((h >>> 8) & 0xff) / 255, ((h >>> 16) & 0xff) / 255];
    return rgb(p[0] + p[1] * v[0], p[2] + p[3] * v[1], p[4] + p[5] * v[2]);
  }

  const UNCHANGED = [0xdc, 0xdc, 0xdc];
  const GREW = [0xe0, 0x34, 0x24];
  const SHRANK = [0x3a, 0x72, 0xe0];
  /** A change of this many points gets the full colour even when nothing changed more. */
  const FULL_COLOUR_POINTS = 5;

  /** @param {number} points @param {number} scale */
  function diffColor(points, scale) {
    const strength = Math.sqrt(Math.min(1, Math.abs(points) / scale));
    const target = points > 0 ? GREW : SHRANK;
    /** @param {number} c */
    const mix = (c) => UNCHANGED[c] + (target[c] - UNCHANGED[c]) * strength;
    return rgb(mix(0), mix(1), mix(2));
  }

  /** @param {number} share 0–1 */
  function heatColor(share) {
    const at = Math.max(0, Math.min(1, share)) * (HEAT_PALETTE.length - 1);
    const i = Math.min(HEAT_PALETTE.length - 2, Math.floor(at));
    const f = at - i;
    const [a, b] = [HEAT_PALETTE[i], HEAT_PALETTE[i + 1]];
    return rgb(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f);
  }

  /** @param {number} r @param {number} g @param {number} b */
  function rgb(r, g, b) {
    /** @param {number} v */
    const hex = (v) => Math.min(255, Math.max(0, Math.round(v))).toString(16).padStart(2, '0');
    return `#${hex(r)}${hex(g)}${hex(b)}`;
  }

  // -------------------------------------------------------------------------------------------
  // DOM helpers: text only ever through textContent and attributes.

  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag @param {Record<string, string>} [attrs] @param {string} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** @param {string} tag @param {Record<string, string | number>} [attrs] @returns {SVGElement} */
  function svg(tag, attrs) {
    const node = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
    if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  }

  // -------------------------------------------------------------------------------------------
  // State, mirrored in location.hash.

  /** @typedef {'all' | 'process' | 'diff'} View */
  const state = {
    /** @type {View} */ view: 'all',
    /** Selected time range, ms since the window start. @type {{ t0: number, t1: number } | null} */ range: null,
    query: '',
    /** Names from the process frame down to the zoomed frame; empty when not zoomed. @type {string[]} */ zoom: [],
  };

  /** @param {string[]} names */
  const encodePath = (names) => names.map((n) => n.replace(/[\\;]/g, '\\$&')).join(';');
  /**
   * The search box and `#q=`: plain text in any case, `|` between alternatives. Never a regular
   * expression: a link someone else made (in a chat message) must not be able to freeze this tab
   * with a pattern that backtracks for minutes on a long frame name; `includes` is linear.
   * @param {string} query
   * @returns {((name: string) => boolean) | null} null when there is nothing to search for
   */
  function textMatcher(query) {
    const needles = query.toLowerCase().split('|').filter((needle) => needle !== '');
    if (needles.length === 0) return null;
    return (name) => {
      const lower = name.toLowerCase();
      return needles.some((needle) => lower.includes(needle));
    };
  }

  /** @param {string} text */
  function decodePath(text) {
    /** @type {string[]} */
    const names = [];
    let current = '';
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '\\' && i + 1 < text.length) current += text[++i];
      else if (c === ';') names.push(current), (current = '');
      else current += c;
    }
    if (text !== '') names.push(current);
    return names;
  }

  /** Seconds relative to fired_at, as the hash and the labels give times. @param {Model} m @param {number} t */
  const relSeconds = (m, t) => (t - m.firedT) / 1000;
  /** @param {number} seconds */
  const hashSeconds = (seconds) => String(Number(seconds.toFixed(3)));

  /** @param {Model} m */
  function writeHash(m) {
    const params = new URLSearchParams();
    if (state.view !== 'all') params.set('view', state.view);
    if (state.range) {
      params.set('from', hashSeconds(relSeconds(m, state.range.t0)));
      params.set('to', hashSeconds(relSeconds(m, state.range.t1)));
    }
    if (state.query) params.set('q', state.query);
    if (state.zoom.length > 0) params.set('zoom', encodePath(state.zoom));
    const hash = params.toString();
    const url = location.pathname + location.search + (hash ? `#${hash}` : '');
    if (url !== location.pathname + location.search + location.hash) history.replaceState(history.state, '', url);
  }

  /** A hash of ours (`view=…&from=…`, or none), not a link to an anchor of the page such as `#notifications`. */
  const isStateHash = () => location.hash.length <= 1 || location.hash.includes('=');

  /** @param {Model} m @param {{ process: boolean, diff: boolean }} available */
  function readHash(m, available) {
    const params = new URLSearchParams(isStateHash() ? location.hash.slice(1) : '');
    const view = params.get('view');
    state.view = view === 'process' && available.process ? 'process' : view === 'diff' && available.diff ? 'diff' : 'all';
    const from = Number(params.get('from') ?? NaN);
    const to = Number(params.get('to') ?? NaN);
    const t0 = Math.max(0, m.firedT + from * 1000);
    const t1 = Math.min(m.windowMs, m.firedT + to * 1000);
    state.range = params.has('from') && params.has('to') && Number.isFinite(from) && Number.isFinite(to) && t1 > t0 ? { t0, t1 } : null;
    state.query = params.get('q') ?? '';
    state.zoom = decodePath(params.get('zoom') ?? '');
  }

  // -------------------------------------------------------------------------------------------
  // The incident view: heatmap, toolbar and flamegraph over one model.

  /** @param {Model} m */
  function start(m) {
    const hasBaseline = m.heldT !== null && aggregate(m, null, -Infinity, m.heldT).total > 0;
    const available = { process: page.pid !== null, diff: hasBaseline };
    readHash(m, available);

    // Times of the flamegraph: the selection, else the whole window (the trigger window for diff).
    const flameRange = () =>
      state.range ?? (state.view === 'diff' && m.heldT !== null ? { t0: m.heldT, t1: Infinity } : { t0: -Infinity, t1: Infinity });
    const viewPid = () => (state.view === 'process' ? page.pid : null);
    const flameAggregate = () => {
      const { t0, t1 } = flameRange();
      return aggregate(m, viewPid(), t0, t1);
    };

    // ---- Heatmap ------------------------------------------------------------------------------

    /** @typedef {{ colMs: number, rowMs: number, cols: number, colW: number, plotW: number, width: number, counts: Uint32Array, max: number }} HeatGeometry */
    /** @type {HeatGeometry | null} */
    let heat = null;
    /** @type {SVGSVGElement | null} */
    let heatSvg = null;
    /** @type {SVGElement | null} */
    let overlay = null;
    /** Keyboard cursor cell. */
    let cursor = { col: 0, row: 0 };
    /** Start of a range being picked by tap, click or Enter: ms of its cell's start. @type {number | null} */
    let pending = null;
    /** Last picked cell start, for shift-click. @type {number | null} */
    let anchor = null;
    /** @type {{ t0: number, t1: number } | null} */
    let dragging = null;

    const status = el('span', { class: 'visually-hidden', 'aria-live': 'polite' });

    function renderHeatmap() {
      if (!heatmapEl) return;
      const width = Math.max(240, Math.floor(heatmapEl.clientWidth || 600));
      const plotW = width - HEAT_MARGIN.left - HEAT_MARGIN.right;
      let colMs = COLUMN_MS[COLUMN_MS.length - 1];
      for (const ms of COLUMN_MS) {
        if (plotW / Math.ceil(m.windowMs / ms) >= MIN_CELL_PX) {
          colMs = ms;
          break;
        }
      }
      const cols = Math.max(1, Math.ceil(m.windowMs / colMs - 1e-9));
      const rowMs = colMs / HEAT_ROWS;
      const counts = new Uint32Array(cols * HEAT_ROWS);
      const pid = viewPid();
      const a = m.sorted ? lowerBound(m.sampleT, 0) : 0;
      const b = m.sorted ? lowerBound(m.sampleT, m.windowMs) : m.sampleT.length;
      for (let i = a; i < b; i++) {
        const t = m.sampleT[i];
        if (!(t >= 0 && t < m.windowMs)) continue;
        if (pid !== null && m.stackPid[m.sampleStack[i]] !== pid) continue;
        const col = Math.floor(t / colMs);
        counts[col * HEAT_ROWS + Math.min(HEAT_ROWS - 1, Math.floor((t - col * colMs) / rowMs))]++;
      }
      let max = 0;
      for (const c of counts) if (c > max) max = c;
      heat = { colMs, rowMs, cols, colW: plotW / cols, plotW, width, counts, max };
      cursor = { col: Math.min(cursor.col, cols - 1), row: cursor.row };

      const gridH = HEAT_ROWS * HEAT_ROW_PX;
      const height = HEAT_MARGIN.top + gridH + 44;
      const root = /** @type {SVGSVGElement} */ (
        svg('svg', {
          class: 'heatmap',
          width,
          height,
          viewBox: `0 0 ${width} ${height}`,
          tabindex: 0,
          role: 'application',
          'aria-roledescription': 'heatmap',
          'aria-label': 'Samples over time: columns are seconds, rows parts of a second. Drag, or click a cell and shift-click another, to select a time range; arrow keys move, Enter picks the start and then the end, Escape clears.',
        })
      );
      const x0 = HEAT_MARGIN.left;
      const y0 = HEAT_MARGIN.top;
      root.append(svg('rect', { class: 'heat-background', x: x0, y: y0, width: Math.min(plotW, (m.windowMs / colMs) * heat.colW), height: gridH }));
      const cells = svg('g', { class: 'heat-cells' });
      const cellW = heat.colW;
      for (let col = 0; col < cols; col++) {
        for (let row = 0; row < HEAT_ROWS; row++) {
          const count = counts[col * HEAT_ROWS + row];
          if (count === 0) continue;
          const t0 = col * colMs + row * rowMs;
          const rect = svg('rect', {
            class: 'heat-cell',
            x: (x0 + col * cellW).toFixed(2),
            y: y0 + row * HEAT_ROW_PX,
            width: Math.max(1, cellW - (cellW >= 4 ? 1 : 0)).toFixed(2),
            height: HEAT_ROW_PX - 1,
            fill: heatColor(max > 1 ? (count - 1) / (max - 1) : 1),
            'data-t0': Math.round(t0),
            'data-t1': Math.round(t0 + rowMs),
            'data-count': count,
          });
          const title = svg('title');
          title.textContent = `${formatSeconds(relSeconds(m, t0), 1)}: ${plural(count, 'sample')}`;
          rect.append(title);
          cells.append(rect);
        }
      }
      root.append(cells);

      // Y axis: offset within the column.
      const yAxis = svg('g', { class: 'heat-axis' });
      for (let row = 0; row < HEAT_ROWS; row += 2) {
        const label = svg('text', { x: x0 - 6, y: y0 + row * HEAT_ROW_PX + HEAT_ROW_PX - 3, 'text-anchor': 'end' });
        label.textContent = colMs === 1000 ? `${row * rowMs} ms` : `+${((row * rowMs) / 1000).toFixed(1)} s`;
        yAxis.append(label);
      }
      // X axis: seconds relative to fired_at, at a step that leaves room for the labels.
      const pxPerSecond = (heat.colW * 1000) / colMs;
      const step = TICK_SECONDS.find((s) => s * pxPerSecond >= 52) ?? 3600;
      const firstRel = relSeconds(m, 0);
      const lastRel = relSeconds(m, m.windowMs);
      for (let s = Math.ceil(firstRel / step) * step; s <= lastRel + 1e-9; s += step) {
        const x = x0 + ((m.firedT + s * 1000) / colMs) * heat.colW;
        yAxis.append(svg('line', { class: 'heat-tick', x1: x, x2: x, y1: y0 + gridH, y2: y0 + gridH + 4 }));
        // The outermost labels stay inside the image.
        const anchor = x + 22 > width ? 'end' : x - 22 < 0 ? 'start' : 'middle';
        const label = svg('text', { x, y: y0 + gridH + 16, 'text-anchor': anchor });
        label.textContent = formatSeconds(s, 0);
        yAxis.append(label);
      }
      root.append(yAxis);

      // Markers: where the condition began to hold (baseline | trigger) and when the rule fired.
      const markers = svg('g', { class: 'heat-markers' });
      const colW = heat.colW;
      const xOf = (/** @type {number} */ t) => x0 + (t / colMs) * colW;
      const firedX = xOf(m.firedT);
      const heldX = m.heldT === null ? null : xOf(m.heldT);
      const close = heldX !== null && Math.abs(firedX - heldX) < 90;
      if (heldX !== null && m.heldT !== null && m.heldT <= m.windowMs) {
        markers.append(svg('line', { class: 'heat-marker held', x1: heldX, x2: heldX, y1: y0 - 6, y2: y0 + gridH }));
        const label = svg('text', { class: 'heat-marker-label held', x: heldX + (close ? -3 : 0), y: y0 - 9, 'text-anchor': close ? 'end' : 'middle' });
        label.textContent = 'baseline | trigger';
        const tip = svg('title');
        tip.textContent = `The rule's condition held from ${formatSeconds(relSeconds(m, m.heldT), 1)} on (held_since): before it is the baseline the diff compares against.`;
        label.append(tip);
        markers.append(label);
      }
      if (m.firedT >= 0 && m.firedT <= m.windowMs) {
        markers.append(svg('line', { class: 'heat-marker fired', x1: firedX, x2: firedX, y1: y0 - 6, y2: y0 + gridH }));
        const label = svg('text', { class: 'heat-marker-label fired', x: firedX + (close ? 3 : 0), y: y0 - 9, 'text-anchor': close ? 'start' : 'middle' });
        label.textContent = 'fired';
        markers.append(label);
      }
      root.append(markers);

      // Legend: the colour scale up to the busiest cell.
      const legendY = y0 + gridH + 26;
      const legend = svg('g', { class: 'heat-legend' });
      const gradient = svg('linearGradient', { id: 'heat-gradient', x1: 0, x2: 1, y1: 0, y2: 0 });
      HEAT_PALETTE.forEach((_, i) => {
        const at = i / (HEAT_PALETTE.length - 1);
        gradient.append(svg('stop', { offset: at, 'stop-color': heatColor(at) }));
      });
      const defs = svg('defs');
      defs.append(gradient);
      root.prepend(defs);
      // "1 [bar] 22 samples (max) per 100 ms": the bar first, so the text never runs into it.
      const low = svg('text', { x: x0, y: legendY + 10 });
      low.textContent = '1';
      legend.append(low, svg('rect', { class: 'heat-legend-bar', x: x0 + 12, y: legendY + 1, width: 100, height: 10, fill: 'url(#heat-gradient)' }));
      const high = svg('text', { x: x0 + 118, y: legendY + 10 });
      const cell = rowMs >= 1000 ? `${rowMs / 1000} s` : `${rowMs} ms`;
      high.textContent =
        width < 480 ? `${max} (max) per ${cell}` : `${plural(max, 'sample')} (max) per ${cell}${pid !== null && width >= 560 ? ` · ${page.comm || 'process'} (${pid}) only` : ''}`;
      legend.append(high);
      root.append(legend);

      overlay = svg('g', { class: 'heat-overlay' });
      root.append(overlay);
      attachHeatmapEvents(root);
      heatmapEl.replaceChildren(root, status);
      heatSvg = root;
      drawSelection();
    }

    /** The cell under a client point, clamped to the grid; null outside it unless clamping. @param {number} clientX @param {number} clientY @param {boolean} clamp */
    function cellAt(clientX, clientY, clamp) {
      if (!heat || !heatSvg) return null;
      const box = heatSvg.getBoundingClientRect();
      const x = clientX - box.left - HEAT_MARGIN.left;
      const y = clientY - box.top - HEAT_MARGIN.top;
      const inside = x >= 0 && x < heat.plotW && y >= 0 && y < HEAT_ROWS * HEAT_ROW_PX;
      if (!inside && !clamp) return null;
      const col = Math.max(0, Math.min(heat.cols - 1, Math.floor(x / heat.colW)));
      const row = Math.max(0, Math.min(HEAT_ROWS - 1, Math.floor(y / HEAT_ROW_PX)));
      return { col, row };
    }

    /** @param {{ col: number, row: number }} cell */
    const cellStart = (cell) => (heat ? cell.col * heat.colMs + cell.row * heat.rowMs : 0);

    /** The range from one cell to another, in time order. @param {number} a @param {number} b cell starts */
    function spanOf(a, b) {
      const rowMs = heat ? heat.rowMs : 100;
      return { t0: Math.max(0, Math.min(a, b)), t1: Math.min(m.windowMs, Math.max(a, b) + rowMs) };
    }

    /** @param {{ t0: number, t1: number } | null} range */
    function select(range) {
      state.range = range;
      pending = null;
      dragging = null;
      drawSelection();
      renderFlame();
      writeHash(m);
    }

    /** Outline of the selected (or being selected) range, and the text under the heatmap. */
    function drawSelection() {
      if (!heat || !overlay || !heatSvg) return;
      const shown = dragging ?? state.range;
      overlay.replaceChildren();
      const x0 = HEAT_MARGIN.left;
      const y0 = HEAT_MARGIN.top;
      if (shown) {
        // One rect per run of columns covered over the same rows (at most three for any range).
        /** @type {Array<{ from: number, to: number, r0: number, r1: number }>} */
        const runs = [];
        for (let col = Math.floor(shown.t0 / heat.colMs); col * heat.colMs < shown.t1 && col < heat.cols; col++) {
          const c0 = col * heat.colMs;
          const r0 = Math.max(0, Math.floor((shown.t0 - c0) / heat.rowMs + 1e-9));
          const r1 = Math.min(HEAT_ROWS, Math.ceil((shown.t1 - c0) / heat.rowMs - 1e-9));
          if (r1 <= r0) continue;
          const last = runs[runs.length - 1];
          if (last && last.to === col && last.r0 === r0 && last.r1 === r1) last.to = col + 1;
          else runs.push({ from: col, to: col + 1, r0, r1 });
        }
        for (const run of runs) {
          overlay.append(
            svg('rect', {
              class: dragging ? 'heat-selection dragging' : 'heat-selection',
              x: (x0 + run.from * heat.colW).toFixed(2),
              y: y0 + run.r0 * HEAT_ROW_PX - 0.5,
              width: ((run.to - run.from) * heat.colW).toFixed(2),
              height: (run.r1 - run.r0) * HEAT_ROW_PX,
            }),
          );
        }
      }
      for (const cell of heatSvg.querySelectorAll('rect.heat-cell')) {
        const t0 = Number(cell.getAttribute('data-t0'));
        cell.classList.toggle('selected', !!shown && t0 >= shown.t0 - 1e-6 && t0 < shown.t1 - 1e-6);
      }
      heatSvg.classList.toggle('has-selection', !!shown);
      if (pending !== null) {
        const col = Math.floor(pending / heat.colMs);
        const row = Math.round((pending - col * heat.colMs) / heat.rowMs);
        overlay.append(svg('rect', { class: 'heat-anchor', x: x0 + col * heat.colW, y: y0 + row * HEAT_ROW_PX - 0.5, width: heat.colW, height: HEAT_ROW_PX }));
      }
      if (document.activeElement === heatSvg) {
        overlay.append(svg('rect', { class: 'heat-cursor', x: x0 + cursor.col * heat.colW, y: y0 + cursor.row * HEAT_ROW_PX - 0.5, width: heat.colW, height: HEAT_ROW_PX }));
      }
      describeSelection();
    }

    /** What #heatmap-selection says now; it is rebuilt only when that changes, so a focus change
     * between mousedown and mouseup never swaps the Clear button out from under the click. */
    let described = '';
    function describeSelection() {
      if (!selectionEl) return;
      const range = state.range;
      const key = pending !== null ? `p${pending}` : range ? `r${range.t0},${range.t1},${state.view}` : '';
      if (key === described && selectionEl.hasChildNodes()) return;
      described = key;
      if (pending !== null) {
        selectionEl.replaceChildren(`Start at ${formatSeconds(relSeconds(m, pending), 1)}: now pick the end cell (Escape cancels).`);
      } else if (!range) {
        selectionEl.replaceChildren(
          'Drag across the heatmap (or click a cell, then shift-click another; on a touch screen tap the first cell, then the last) to draw the flamegraph of that time range only.',
        );
      } else {
        const count = aggregate(m, viewPid(), range.t0, range.t1).total;
        const clear = el('button', { id: 'clear-selection', type: 'button' }, 'Clear selection');
        clear.addEventListener('click', () => select(null));
        selectionEl.replaceChildren(
          `Selected ${formatSeconds(relSeconds(m, range.t0), 1)} … ${formatSeconds(relSeconds(m, range.t1), 1)} (${plural(count, 'sample')}) · `,
          clear,
        );
      }
    }

    /** @param {SVGSVGElement} root */
    function attachHeatmapEvents(root) {
      /** @type {{ x: number, y: number, id: number } | null} */
      let touch = null;
      root.addEventListener('pointerdown', (event) => {
        const cell = cellAt(event.clientX, event.clientY, false);
        if (!cell) return;
        cursor = cell;
        if (event.pointerType !== 'mouse') {
          touch = { x: event.clientX, y: event.clientY, id: event.pointerId };
          return;
        }
        if (event.button !== 0) return;
        event.preventDefault();
        root.focus({ preventScroll: true });
        const t = cellStart(cell);
        if (event.shiftKey && anchor !== null) {
          select(spanOf(anchor, t));
          return;
        }
        anchor = t;
        dragging = spanOf(t, t);
        root.setPointerCapture(event.pointerId);
        drawSelection();
      });
      root.addEventListener('pointermove', (event) => {
        if (!dragging || anchor === null) return;
        const cell = cellAt(event.clientX, event.clientY, true);
        if (!cell) return;
        const next = spanOf(anchor, cellStart(cell));
        if (next.t0 !== dragging.t0 || next.t1 !== dragging.t1) {
          dragging = next;
          drawSelection();
        }
      });
      root.addEventListener('pointerup', (event) => {
        if (event.pointerType !== 'mouse') {
          // A tap (not a scroll): the first picks the start, the second the end.
          if (!touch || touch.id !== event.pointerId || Math.hypot(event.clientX - touch.x, event.clientY - touch.y) > 10) return;
          touch = null;
          const cell = cellAt(event.clientX, event.clientY, false);
          if (cell) pick(cellStart(cell));
          return;
        }
        if (!dragging || anchor === null) return;
        const cell = cellAt(event.clientX, event.clientY, true);
        select(cell ? spanOf(anchor, cellStart(cell)) : dragging);
      });
      root.addEventListener('pointercancel', () => {
        touch = null;
        if (dragging) {
          dragging = null;
          drawSelection();
        }
      });
      root.addEventListener('focus', () => drawSelection());
      root.addEventListener('blur', () => drawSelection());
      root.addEventListener('keydown', (event) => {
        if (!heat) return;
        const moves = /** @type {Record<string, [number, number]>} */ ({ ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] });
        const move = moves[event.key];
        if (move) {
          event.preventDefault();
          cursor = {
            col: Math.max(0, Math.min(heat.cols - 1, cursor.col + move[0])),
            row: Math.max(0, Math.min(HEAT_ROWS - 1, cursor.row + move[1])),
          };
          const count = heat.counts[cursor.col * HEAT_ROWS + cursor.row];
          status.textContent = `${formatSeconds(relSeconds(m, cellStart(cursor)), 1)}: ${plural(count, 'sample')}`;
          drawSelection();
        } else if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          pick(cellStart(cursor));
        } else if (event.key === 'Escape') {
          if (pending !== null) {
            pending = null;
            drawSelection();
          } else if (state.range) {
            select(null);
          }
        }
      });
    }

    /** Tap, Enter: the first pick marks the start, the second selects start … end. @param {number} t */
    function pick(t) {
      if (pending === null) {
        pending = t;
        anchor = t;
        drawSelection();
      } else {
        select(spanOf(pending, t));
      }
    }

    // ---- Toolbar ------------------------------------------------------------------------------

    const viewButtons = /** @type {Record<View, HTMLButtonElement>} */ ({
      all: el('button', { type: 'button', 'data-view': 'all' }, 'All processes'),
      process: el('button', { type: 'button', 'data-view': 'process' }, page.pid !== null ? `${page.comm || 'process'} (${page.pid})` : 'Triggering process'),
      diff: el('button', { type: 'button', 'data-view': 'diff' }, 'Diff vs baseline'),
    });
    viewButtons.all.title = 'Every process sampled in the window';
    viewButtons.process.title = page.pid !== null ? 'Only the process the rule watched' : 'The rule did not watch a process';
    viewButtons.diff.title = hasBaseline
      ? 'The trigger window (or the selection) coloured by how each frame’s share of samples changed against the baseline before the condition held: red grew, blue shrank'
      : 'No baseline: the incident has no samples from before the condition began to hold';
    viewButtons.process.disabled = !available.process;
    viewButtons.diff.disabled = !available.diff;
    const views = el('div', { class: 'flame-views', role: 'group', 'aria-label': 'Flamegraph of' });
    views.append(viewButtons.all, viewButtons.process, viewButtons.diff);
    const search = el('input', { id: 'flame-search', type: 'search', placeholder: 'Search functions (a|b for either)', 'aria-label': 'Search functions by name: text in any case, a|b finds either', autocomplete: 'off', spellcheck: 'false' });
    search.value = state.query;
    const searchResult = el('span', { id: 'flame-search-result', 'aria-live': 'polite' });
    const reset = el('button', { id: 'flame-reset', type: 'button' }, 'Reset zoom');
    const legend = el('div', { class: 'flame-legend', 'aria-hidden': 'true' });
    const caption = el('p', { id: 'flame-caption' });
    const details = el('p', { id: 'flame-details' }, '\u00a0');
    const canvas = el('div', { class: 'flame-frames', role: 'group', 'aria-roledescription': 'flamegraph' });
    const emptyNote = el('p', { class: 'flame-empty', hidden: '' }, 'No samples in this time range.');

    if (toolbarEl) {
      const row = el('div', { class: 'flame-toolbar-row' });
      const searchBox = el('div', { class: 'flame-search' });
      searchBox.append(search, searchResult);
      row.append(views, searchBox, reset);
      toolbarEl.replaceChildren(row, legend, caption);
    }
    // The server's fallback (the still image, or a note that there is none) stays until the first render has worked.
    const fallback = flameEl ? [...flameEl.childNodes] : [];
    if (flameEl) flameEl.prepend(details, canvas, emptyNote);

    for (const [view, button] of Object.entries(viewButtons)) {
      button.addEventListener('click', () => {
        if (button.disabled || state.view === view) return;
        const heatmapPid = viewPid();
        state.view = /** @type {View} */ (view);
        // The heatmap shows the process view's process alone, and all processes otherwise.
        if (viewPid() !== heatmapPid) renderHeatmap();
        else drawSelection();
        renderFlame();
        writeHash(m);
      });
    }
    reset.addEventListener('click', () => zoomTo(0));
    let searchTimer = 0;
    search.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = window.setTimeout(() => {
        state.query = search.value;
        applySearch();
        writeHash(m);
      }, 120);
    });

    /** @param {Array<[string, string]>} entries class and label */
    function drawLegend(entries) {
      legend.replaceChildren(
        ...entries.map(([cls, label]) => {
          const item = el('span', { class: 'flame-legend-item' });
          item.append(el('span', { class: `swatch ${cls}` }), label);
          return item;
        }),
      );
    }

    // ---- Flamegraph ---------------------------------------------------------------------------

    /** The frames on screen: their tree nodes, their elements (same order) and the counts drawn. @type {{ nodes: number[], elements: HTMLElement[], agg: Aggregate | null }} */
    let drawn = { nodes: [], elements: [], agg: null };

    /** @param {Aggregate} agg the node of the zoom path, 0 when it is not (or no longer) drawn */
    function zoomNode(agg) {
      let node = 0;
      for (const name of state.zoom) {
        let best = -1;
        for (let k = m.childStart[node]; k < m.childStart[node + 1]; k++) {
          const c = m.childList[k];
          if (m.identities[m.nodeIdentity[c]].name === name && agg.nodeCount[c] > 0 && (best < 0 || agg.nodeCount[c] > agg.nodeCount[best])) best = c;
        }
        if (best < 0) return 0;
        node = best;
      }
      return node;
    }

    /** @param {number} node */
    function pathNames(node) {
      /** @type {string[]} */
      const names = [];
      for (let at = node; at > 0; at = m.nodeParent[at]) names.push(m.identities[m.nodeIdentity[at]].name);
      return names.reverse();
    }

    /** @param {number} node */
    function zoomTo(node) {
      state.zoom = pathNames(node);
      renderFlame();
      writeHash(m);
    }

    /** @param {Identity} identity */
    const describeIdentity = (identity) => (identity.module ? `${identity.name} (${identity.module})` : identity.name);
    /** @param {Identity} identity */
    const sourceLine = (identity) => (identity.file ? `\n${identity.file}${identity.line === undefined ? '' : `:${identity.line}`}` : '');

    function renderFlame() {
      const width = canvas.clientWidth || (flameEl ? flameEl.clientWidth : 0) || 1000;
      const agg = flameAggregate();
      const diff = state.view === 'diff' && m.heldT !== null;
      const baseline = diff && m.heldT !== null ? aggregate(m, null, -Infinity, m.heldT) : null;
      const focus = zoomNode(agg);
      if (focus === 0 && state.zoom.length > 0) state.zoom = [];
      reset.disabled = focus === 0;
      Object.entries(viewButtons).forEach(([view, button]) => button.setAttribute('aria-pressed', String(view === state.view)));
      drawLegend(
        diff
          ? [['diff-grew', 'grew'], ['diff-shrank', 'shrank'], ['diff-unchanged', 'unchanged'], ['match', 'search match']]
          : [['kind-process', 'process'], ['kind-kernel', 'kernel'], ['kind-native', 'native (user)'], ['kind-jit', 'jit'], ['kind-unknown', 'unknown'], ['match', 'search match']],
      );
      captionText(agg, baseline);

      /** @type {number[]} */ const nodes = [];
      /** @type {number[]} */ const xs = [];
      const counts = agg.nodeCount;
      // Ancestors of the zoomed frame: full width, dimmed.
      for (let at = m.nodeParent[focus]; at >= 0; at = m.nodeParent[at]) nodes.push(at), xs.push(-1);
      const focusCount = counts[focus];
      if (focusCount > 0) {
        const minCount = (MIN_FRAME_PX * focusCount) / width;
        const todo = [focus];
        const todoX = [0];
        while (todo.length > 0) {
          const node = /** @type {number} */ (todo.pop());
          const x = /** @type {number} */ (todoX.pop());
          nodes.push(node);
          xs.push(x);
          let cx = x;
          for (let k = m.childStart[node]; k < m.childStart[node + 1]; k++) {
            const c = m.childList[k];
            const count = counts[c];
            if (count === 0) continue;
            if (count >= minCount) todo.push(c), todoX.push(cx);
            cx += count;
          }
        }
      }

      // Colour change per drawn frame for the diff view; the scale is the largest change shown.
      const change = new Float64Array(nodes.length);
      let scale = FULL_COLOUR_POINTS;
      if (baseline) {
        nodes.forEach((node, i) => {
          change[i] = (counts[node] / agg.total - baseline.nodeCount[node] / baseline.total) * 100;
          if (node !== 0) scale = Math.max(scale, Math.abs(change[i]));
        });
      }

      const fragment = document.createDocumentFragment();
      /** @type {HTMLElement[]} */
      const elements = [];
      let deepest = 0;
      // Per identity, not per box: a hot function appears in hundreds of boxes.
      /** @type {Array<string | undefined>} */
      const colorOf = [];
      /** @type {Array<string | undefined>} */
      const labelOf = [];
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i];
        const id = m.nodeIdentity[node];
        const identity = m.identities[id];
        const dimmed = xs[i] < 0;
        const left = dimmed ? 0 : xs[i] / focusCount;
        const share = dimmed ? 1 : counts[node] / focusCount;
        const depth = m.nodeDepth[node];
        if (depth > deepest) deepest = depth;
        const frame = document.createElement('div');
        let cls = `frame kind-${identity.kind}`;
        let tip = `${(labelOf[id] ??= describeIdentity(identity))} — ${plural(counts[node], 'sample')}, ${percent(counts[node], agg.total)}`;
        let color;
        if (baseline) {
          const points = change[i];
          cls += Math.abs(points) < 0.05 ? ' diff-unchanged' : points > 0 ? ' diff-grew' : ' diff-shrank';
          const before = baseline.nodeCount[node];
          tip += ` — before ${percent(before, baseline.total)} → now ${percent(counts[node], agg.total)} (${points < 0 ? MINUS : '+'}${Math.abs(points).toFixed(1)} points${before === 0 ? ', new' : ''})`;
          color = diffColor(points, scale);
        } else {
          color = colorOf[id] ??= flameColor(identity.kind, identity.name);
        }
        if (dimmed) cls += ' dimmed';
        frame.className = cls;
        frame.setAttribute('data-name', identity.name);
        if (identity.pid !== undefined) frame.setAttribute('data-pid', String(identity.pid));
        frame.setAttribute('data-samples', String(counts[node]));
        frame.title = tip + sourceLine(identity);
        // CSSOM, which the CSP allows (a style attribute it does not). Only numbers and our own hex colours go in here.
        frame.style.cssText = `left:${+(left * 100).toFixed(4)}%;width:${+(share * 100).toFixed(4)}%;top:${depth * ROW_HEIGHT}px;background-color:${color}`;
        if (share * width >= MIN_LABEL_PX) frame.textContent = identity.name;
        elements.push(frame);
        fragment.append(frame);
      }
      canvas.style.height = nodes.length > 0 ? `${(deepest + 1) * ROW_HEIGHT}px` : '0';
      canvas.setAttribute('aria-label', `Flamegraph, ${plural(agg.total, 'sample')}`);
      canvas.replaceChildren(fragment);
      emptyNote.hidden = agg.total > 0;
      drawn = { nodes, elements, agg };
      details.textContent = '\u00a0';
      applySearch();
    }

    /** @param {Aggregate} agg @param {Aggregate | null} baseline */
    function captionText(agg, baseline) {
      const range = flameRange();
      const when =
        !Number.isFinite(range.t0) && !Number.isFinite(range.t1)
          ? 'whole window'
          : `${formatSeconds(relSeconds(m, Math.max(0, range.t0)), 1)} … ${formatSeconds(relSeconds(m, Math.min(m.windowMs, range.t1)), 1)}`;
      const who = state.view === 'process' ? `${page.comm || 'process'} (${page.pid})` : 'all processes';
      let text = `${who} · ${when} · ${plural(agg.total, 'sample')}`;
      if (baseline && m.heldT !== null) {
        text += ` · width: these samples; colour: change of each frame’s share against the baseline before ${formatSeconds(relSeconds(m, m.heldT), 1)} (${plural(baseline.total, 'sample')}): red grew, blue shrank`;
      }
      caption.textContent = text;
    }

    function applySearch() {
      const test = textMatcher(state.query);
      /** Per identity: 0 not tested yet, 1 no match, 2 match. */
      const matched = new Uint8Array(m.identities.length);
      /** @param {number} id */
      const matches = (id) => {
        if (!test || id === 0) return false;
        if (matched[id] === 0) matched[id] = test(m.identities[id].name) ? 2 : 1;
        return matched[id] === 2;
      };
      drawn.nodes.forEach((node, i) => drawn.elements[i].classList.toggle('match', matches(m.nodeIdentity[node])));
      const agg = drawn.agg;
      if (!test || !agg) {
        searchResult.textContent = '';
        return;
      }
      // Each sample once, even when several frames of its stack match.
      let hit = 0;
      for (let s = 0; s < agg.stackCount.length; s++) {
        const count = agg.stackCount[s];
        if (count === 0) continue;
        for (let k = m.pathStart[s]; k < m.pathStart[s + 1]; k++) {
          if (matches(m.nodeIdentity[m.pathNodes[k]])) {
            hit += count;
            break;
          }
        }
      }
      searchResult.textContent = hit === 0 ? 'No match' : `Matched: ${agg.total > 0 ? ((hit * 100) / agg.total).toFixed(1) : '0.0'}% of samples`;
    }

    /** @param {EventTarget | null} target */
    function frameIndexOf(target) {
      const frame = target instanceof Element ? target.closest('.frame') : null;
      return frame ? drawn.elements.indexOf(/** @type {HTMLElement} */ (frame)) : -1;
    }
    canvas.addEventListener('click', (event) => {
      const i = frameIndexOf(event.target);
      if (i < 0) return;
      details.textContent = drawn.elements[i].title;
      zoomTo(drawn.nodes[i]);
    });
    canvas.addEventListener('mouseover', (event) => {
      const i = frameIndexOf(event.target);
      if (i >= 0) details.textContent = drawn.elements[i].title.replace(/\n/g, ' · ');
    });
    canvas.addEventListener('mouseleave', () => (details.textContent = '\u00a0'));

    // ---- Layout changes and the hash ----------------------------------------------------------

    let lastWidth = 0;
    let resizeTimer = 0;
    const onResize = () => {
      clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => {
        const width = flameEl ? flameEl.clientWidth : 0;
        if (width === lastWidth) return;
        lastWidth = width;
        renderHeatmap();
        renderFlame();
      }, 150);
    };
    if (typeof ResizeObserver === 'function' && flameEl) new ResizeObserver(onResize).observe(flameEl);
    else window.addEventListener('resize', onResize);

    window.addEventListener('hashchange', () => {
      if (!isStateHash()) return;
      readHash(m, available);
      search.value = state.query;
      pending = null;
      renderHeatmap();
      renderFlame();
    });

    lastWidth = flameEl ? flameEl.clientWidth : 0;
    renderHeatmap();
    renderFlame();
    if (isStateHash()) writeHash(m);
    for (const node of fallback) node.remove();
  }

  // -------------------------------------------------------------------------------------------
  // Loading, failure, copy link.

  /** @param {string} url @returns {Promise<StoredSamples>} */
  async function loadSamples(url) {
    const response = await fetch(url, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    // Served as raw gzip; a proxy that added Content-Encoding makes the browser inflate it already.
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
      return new Response(stream).json();
    }
    return JSON.parse(new TextDecoder().decode(bytes));
  }

  /** @param {unknown} error */
  function showFailure(error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (heatmapEl) heatmapEl.replaceChildren(el('p', { class: 'heatmap-error', role: 'alert' }, `Could not load the incident's samples (${reason}); the heatmap is not available.`));
    if (flameEl) flameEl.append(el('p', { class: 'flame-error', role: 'alert' }, `Interactive flamegraph unavailable (${reason}): above is the still image of the whole window.`));
  }

  function setUpCopyLink() {
    if (!copyButton) return;
    copyButton.hidden = false;
    const label = copyButton.textContent || 'Copy link to this view';
    let timer = 0;
    const done = (/** @type {string} */ text) => {
      copyButton.textContent = text;
      clearTimeout(timer);
      timer = window.setTimeout(() => (copyButton.textContent = label), 2000);
    };
    copyButton.addEventListener('click', async () => {
      const url = location.href;
      try {
        // Only present on https or localhost; the daemon is often reached over plain http.
        if (!navigator.clipboard) throw new Error('no clipboard API');
        await navigator.clipboard.writeText(url);
        done('Copied');
      } catch {
        let field = /** @type {HTMLInputElement | null} */ (document.getElementById('copy-link-url'));
        if (!field) {
          field = el('input', { id: 'copy-link-url', type: 'text', readonly: '', 'aria-label': 'Link to this view' });
          copyButton.after(field);
        }
        field.value = url;
        field.select();
        let copied = false;
        try {
          copied = document.execCommand('copy');
        } catch {
          copied = false;
        }
        done(copied ? 'Copied' : 'Press Ctrl+C to copy');
      }
    });
  }

  setUpCopyLink();
  if (heatmapEl) heatmapEl.replaceChildren(el('p', { class: 'heatmap-loading' }, 'Loading samples…'));
  loadSamples(page.samplesUrl)
    .then((stored) => {
      const model = buildModel(stored);
      start(model);
    })
    .catch(showFailure);
})();
