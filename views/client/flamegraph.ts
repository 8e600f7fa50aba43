/**
 * The incident page's interactive flamegraph: icicle (root at the top, callees below, as pprof
 * and speedscope draw it, so the root and process rows sit right under the toolbar and deep
 * stacks grow down the page), one absolutely placed box per frame, coloured as the server's SVG
 * (or, in the diff view, as its differential flamegraph) colours it. Click to zoom, hover for
 * details, search highlights.
 *
 * Names only ever reach the page through textContent, setAttribute and title; colours and places
 * go in through the CSSOM (the CSP forbids style attributes).
 */
import type { Aggregate } from './aggregate.js';
import { el } from './dom.js';
import type { DrawnSummary } from './flame-toolbar.js';
import { diffColor, flameColor, FULL_COLOUR_POINTS } from './flame-style.js';
import type { Identity } from './samples-model.js';
import { formatAmount, formatPoints, percent } from './text-format.js';
import { textMatcher } from './text-matcher.js';
import type { ViewContext } from './view-context.js';

/** Row pitch: a 16 px box and a 1 px gap. */
const ROW_HEIGHT = 17;
/** Frames narrower than this are not drawn; their samples still count in their parents. */
const MIN_FRAME_PX = 0.5;
/** Narrower frames get no label: the ellipsis alone would only be noise. */
const MIN_LABEL_PX = 22;
/** Smaller changes (points) are "unchanged" for the diff classes. */
const UNCHANGED_POINTS = 0.05;
const NO_DETAILS = '\u00a0';

/** The frames on screen: their tree nodes, their elements (same order) and the counts drawn. */
interface Drawn {
  nodes: number[];
  elements: HTMLElement[];
  agg: Aggregate | null;
}

const describeIdentity = (identity: Identity): string => (identity.module ? `${identity.name} (${identity.module})` : identity.name);
const sourceLine = (identity: Identity): string => (identity.file ? `\n${identity.file}${identity.line === undefined ? '' : `:${identity.line}`}` : '');

export class Flamegraph {
  private readonly details = el('p', { id: 'flame-details' }, NO_DETAILS);
  private readonly canvas = el('div', { class: 'flame-frames', role: 'group', 'aria-roledescription': 'flamegraph' });
  private readonly emptyNote = el('p', { class: 'flame-empty', hidden: '' }, 'No samples in this time range.');
  private drawn: Drawn = { nodes: [], elements: [], agg: null };

  /**
   * @param onZoom called after a click changed the zoom (`ctx.state.zoom`)
   */
  constructor(
    private readonly ctx: ViewContext,
    private readonly container: HTMLElement | null,
    private readonly onZoom: () => void,
  ) {
    this.canvas.addEventListener('click', (event) => {
      const i = this.frameIndexOf(event.target);
      if (i < 0) return;
      this.details.textContent = this.drawn.elements[i].title;
      this.zoomTo(this.drawn.nodes[i]);
    });
    this.canvas.addEventListener('mouseover', (event) => {
      const i = this.frameIndexOf(event.target);
      if (i >= 0) this.details.textContent = this.drawn.elements[i].title.replace(/\n/g, ' · ');
    });
    this.canvas.addEventListener('mouseleave', () => (this.details.textContent = NO_DETAILS));
    container?.prepend(this.details, this.canvas, this.emptyNote);
  }

  /** Zooms to a tree node (0: the whole graph). */
  zoomTo(node: number): void {
    this.ctx.state.zoom = this.pathNames(node);
    this.onZoom();
  }

  /** Draws the frames of the current view, range and zoom; a zoom path no longer drawn is dropped. */
  render(): DrawnSummary {
    const { m } = this.ctx;
    const width = this.canvas.clientWidth || (this.container ? this.container.clientWidth : 0) || 1000;
    const agg = this.ctx.flameAggregate();
    const baseline = this.ctx.baseline();
    const focus = this.zoomNode(agg);
    if (focus === 0 && this.ctx.state.zoom.length > 0) this.ctx.state.zoom = [];

    const counts = agg.nodeCount;
    const { nodes, xs } = this.visibleNodes(focus, counts, width);
    const focusCount = counts[focus];

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
    const elements: HTMLElement[] = [];
    let deepest = 0;
    // Per identity, not per box: a hot function appears in hundreds of boxes.
    const colorOf: Array<string | undefined> = [];
    const labelOf: Array<string | undefined> = [];
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
      let tip = `${(labelOf[id] ??= describeIdentity(identity))} — ${formatAmount(counts[node], m.unit)}, ${percent(counts[node], agg.total)}`;
      let color: string;
      if (baseline) {
        const points = change[i];
        cls += Math.abs(points) < UNCHANGED_POINTS ? ' diff-unchanged' : points > 0 ? ' diff-grew' : ' diff-shrank';
        const before = baseline.nodeCount[node];
        tip += ` — before ${percent(before, baseline.total)} → now ${percent(counts[node], agg.total)} (${formatPoints(points)} points${before === 0 ? ', new' : ''})`;
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
    this.canvas.style.height = nodes.length > 0 ? `${(deepest + 1) * ROW_HEIGHT}px` : '0';
    this.canvas.setAttribute('aria-label', `Flamegraph, ${formatAmount(agg.total, m.unit)}`);
    this.canvas.replaceChildren(fragment);
    this.emptyNote.hidden = agg.total > 0;
    this.drawn = { nodes, elements, agg };
    this.details.textContent = NO_DETAILS;
    return { agg, baseline, zoomed: focus !== 0 };
  }

  /**
   * Highlights the frames the search matches and says what share of the drawn samples they
   * cover, each sample once even when several frames of its stack match. '' when not searching.
   */
  applySearch(): string {
    const { m, state } = this.ctx;
    const test = textMatcher(state.query);
    /** Per identity: 0 not tested yet, 1 no match, 2 match. */
    const matched = new Uint8Array(m.identities.length);
    const matches = (id: number): boolean => {
      if (!test || id === 0) return false;
      if (matched[id] === 0) matched[id] = test(m.identities[id].name) ? 2 : 1;
      return matched[id] === 2;
    };
    const { nodes, elements, agg } = this.drawn;
    nodes.forEach((node, i) => elements[i].classList.toggle('match', matches(m.nodeIdentity[node])));
    if (!test || !agg) return '';
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
    return hit === 0 ? 'No match' : `Matched: ${agg.total > 0 ? ((hit * 100) / agg.total).toFixed(1) : '0.0'}% of ${this.ctx.m.unit === 'samples' ? 'samples' : 'the total'}`;
  }

  /**
   * The nodes to draw, parents first, with their left edge in samples from the focus's; the
   * focus's ancestors come first with -1 (drawn full width, dimmed).
   */
  private visibleNodes(focus: number, counts: Float64Array, width: number): { nodes: number[]; xs: number[] } {
    const { m } = this.ctx;
    const nodes: number[] = [];
    const xs: number[] = [];
    for (let at = m.nodeParent[focus]; at >= 0; at = m.nodeParent[at]) nodes.push(at), xs.push(-1);
    const focusCount = counts[focus];
    if (focusCount <= 0) return { nodes, xs };
    const minCount = (MIN_FRAME_PX * focusCount) / width;
    const todo = [focus];
    const todoX = [0];
    for (let node = todo.pop(), x = todoX.pop(); node !== undefined && x !== undefined; node = todo.pop(), x = todoX.pop()) {
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
    return { nodes, xs };
  }

  /** The node of the zoom path, 0 when it is not (or no longer) drawn: at each level the busiest child of that name. */
  private zoomNode(agg: Aggregate): number {
    const { m, state } = this.ctx;
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

  private pathNames(node: number): string[] {
    const { m } = this.ctx;
    const names: string[] = [];
    for (let at = node; at > 0; at = m.nodeParent[at]) names.push(m.identities[m.nodeIdentity[at]].name);
    return names.reverse();
  }

  private frameIndexOf(target: EventTarget | null): number {
    const frame = target instanceof Element ? target.closest('.frame') : null;
    return frame instanceof HTMLElement ? this.drawn.elements.indexOf(frame) : -1;
  }
}
