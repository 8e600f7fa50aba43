/**
 * The heatmap and picking a time range on it: drag, click then shift-click, two taps on a touch
 * screen, or the keyboard (arrows move a cursor, Enter picks the start and then the end, Escape
 * cancels or clears). The text under it (`#heatmap-selection`) says what is selected.
 */
import { el, svgEl } from './dom.js';
import { drawHeatmap, HEAT_MARGIN, HEAT_ROW_PX, HEAT_ROWS, type HeatGeometry } from './heatmap-draw.js';
import { relSeconds } from './samples-model.js';
import { formatAmount, formatSeconds } from './text-format.js';
import type { TimeRange } from './url-state.js';
import type { ViewContext } from './view-context.js';

interface Cell {
  col: number;
  row: number;
}

export class Heatmap {
  private heat: HeatGeometry | null = null;
  private root: SVGSVGElement | null = null;
  private overlay: SVGGElement | null = null;
  /** Keyboard cursor cell. */
  private cursor: Cell = { col: 0, row: 0 };
  /** Start of a range being picked by tap, click or Enter: ms of its cell's start. */
  private pending: number | null = null;
  /** Last picked cell start, for shift-click. */
  private anchor: number | null = null;
  private dragging: TimeRange | null = null;
  /** What #heatmap-selection says now, so it is rebuilt only when that changes. */
  private described = '';
  private readonly status = el('span', { class: 'visually-hidden', 'aria-live': 'polite' });

  /**
   * @param onSelect called after the selection changed (in `ctx.state.range`) and was drawn here
   */
  constructor(
    private readonly ctx: ViewContext,
    private readonly container: HTMLElement | null,
    private readonly selectionText: HTMLElement | null,
    private readonly onSelect: () => void,
  ) {}

  /** Draws the heatmap of the current view's samples at the container's width. */
  render(): void {
    if (!this.container) return;
    const width = Math.max(240, Math.floor(this.container.clientWidth || 600));
    const { root, overlay, heat } = drawHeatmap({ m: this.ctx.m, pid: this.ctx.viewPid(), comm: this.ctx.page.comm, width });
    this.heat = heat;
    this.cursor = { col: Math.min(this.cursor.col, heat.cols - 1), row: this.cursor.row };
    this.overlay = overlay;
    this.attachEvents(root);
    this.container.replaceChildren(root, this.status);
    this.root = root;
    this.drawSelection();
  }

  /** Forgets a half-picked range (the state was replaced from the URL). */
  cancelPick(): void {
    this.pending = null;
  }

  /** Outline of the selected (or being selected) range, the cursor, and the text under the heatmap. */
  drawSelection(): void {
    const { heat, overlay, root } = this;
    if (!heat || !overlay || !root) return;
    const shown = this.dragging ?? this.ctx.state.range;
    overlay.replaceChildren();
    const x0 = HEAT_MARGIN.left;
    const y0 = HEAT_MARGIN.top;
    const box = (cls: string, col: number, row: number): SVGRectElement =>
      svgEl('rect', { class: cls, x: x0 + col * heat.colW, y: y0 + row * HEAT_ROW_PX - 0.5, width: heat.colW, height: HEAT_ROW_PX });
    if (shown) {
      for (const run of selectionRuns(heat, shown)) {
        overlay.append(
          svgEl('rect', {
            class: this.dragging ? 'heat-selection dragging' : 'heat-selection',
            x: (x0 + run.from * heat.colW).toFixed(2),
            y: y0 + run.r0 * HEAT_ROW_PX - 0.5,
            width: ((run.to - run.from) * heat.colW).toFixed(2),
            height: (run.r1 - run.r0) * HEAT_ROW_PX,
          }),
        );
      }
    }
    for (const cell of root.querySelectorAll('rect.heat-cell')) {
      const t0 = Number(cell.getAttribute('data-t0'));
      cell.classList.toggle('selected', !!shown && t0 >= shown.t0 - 1e-6 && t0 < shown.t1 - 1e-6);
    }
    root.classList.toggle('has-selection', !!shown);
    if (this.pending !== null) {
      const col = Math.floor(this.pending / heat.colMs);
      const row = Math.round((this.pending - col * heat.colMs) / heat.rowMs);
      overlay.append(box('heat-anchor', col, row));
    }
    if (document.activeElement === root) overlay.append(box('heat-cursor', this.cursor.col, this.cursor.row));
    this.describeSelection();
  }

  /** Rebuilt only when what it says changes, so a focus change between mousedown and mouseup never swaps the Clear button out from under the click. */
  private describeSelection(): void {
    const target = this.selectionText;
    if (!target) return;
    const { state, m } = this.ctx;
    const range = state.range;
    const key = this.pending !== null ? `p${this.pending}` : range ? `r${range.t0},${range.t1},${state.view}` : '';
    if (key === this.described && target.hasChildNodes()) return;
    this.described = key;
    if (this.pending !== null) {
      target.replaceChildren(`Start at ${formatSeconds(relSeconds(m, this.pending), 1)}: now pick the end cell (Escape cancels).`);
    } else if (!range) {
      target.replaceChildren(
        'Drag across the heatmap (or click a cell, then shift-click another; on a touch screen tap the first cell, then the last) to draw the flamegraph of that time range only.',
      );
    } else {
      const count = this.ctx.aggregates.get(this.ctx.viewPid(), range.t0, range.t1).total;
      const clear = el('button', { id: 'clear-selection', type: 'button' }, 'Clear selection');
      clear.addEventListener('click', () => this.select(null));
      target.replaceChildren(`Selected ${formatSeconds(relSeconds(m, range.t0), 1)} … ${formatSeconds(relSeconds(m, range.t1), 1)} (${formatAmount(count, m.unit)}) · `, clear);
    }
  }

  private select(range: TimeRange | null): void {
    this.ctx.state.range = range;
    this.pending = null;
    this.dragging = null;
    this.drawSelection();
    this.onSelect();
  }

  /** The cell under a client point, clamped to the grid; null outside it unless clamping. */
  private cellAt(clientX: number, clientY: number, clamp: boolean): Cell | null {
    const { heat, root } = this;
    if (!heat || !root) return null;
    const box = root.getBoundingClientRect();
    const x = clientX - box.left - HEAT_MARGIN.left;
    const y = clientY - box.top - HEAT_MARGIN.top;
    const inside = x >= 0 && x < heat.plotW && y >= 0 && y < HEAT_ROWS * HEAT_ROW_PX;
    if (!inside && !clamp) return null;
    const col = Math.max(0, Math.min(heat.cols - 1, Math.floor(x / heat.colW)));
    const row = Math.max(0, Math.min(HEAT_ROWS - 1, Math.floor(y / HEAT_ROW_PX)));
    return { col, row };
  }

  private cellStart(cell: Cell): number {
    return this.heat ? cell.col * this.heat.colMs + cell.row * this.heat.rowMs : 0;
  }

  /** The range from one cell to another (their start times), in time order. */
  private spanOf(a: number, b: number): TimeRange {
    const rowMs = this.heat ? this.heat.rowMs : 100;
    return { t0: Math.max(0, Math.min(a, b)), t1: Math.min(this.ctx.m.windowMs, Math.max(a, b) + rowMs) };
  }

  /** Tap, Enter: the first pick marks the start, the second selects start … end. */
  private pick(t: number): void {
    if (this.pending === null) {
      this.pending = t;
      this.anchor = t;
      this.drawSelection();
    } else {
      this.select(this.spanOf(this.pending, t));
    }
  }

  private attachEvents(root: SVGSVGElement): void {
    let touch: { x: number; y: number; id: number } | null = null;
    root.addEventListener('pointerdown', (event) => {
      const cell = this.cellAt(event.clientX, event.clientY, false);
      if (!cell) return;
      this.cursor = cell;
      if (event.pointerType !== 'mouse') {
        touch = { x: event.clientX, y: event.clientY, id: event.pointerId };
        return;
      }
      if (event.button !== 0) return;
      event.preventDefault();
      root.focus({ preventScroll: true });
      const t = this.cellStart(cell);
      if (event.shiftKey && this.anchor !== null) {
        this.select(this.spanOf(this.anchor, t));
        return;
      }
      this.anchor = t;
      this.dragging = this.spanOf(t, t);
      root.setPointerCapture(event.pointerId);
      this.drawSelection();
    });
    root.addEventListener('pointermove', (event) => {
      if (!this.dragging || this.anchor === null) return;
      const cell = this.cellAt(event.clientX, event.clientY, true);
      if (!cell) return;
      const next = this.spanOf(this.anchor, this.cellStart(cell));
      if (next.t0 !== this.dragging.t0 || next.t1 !== this.dragging.t1) {
        this.dragging = next;
        this.drawSelection();
      }
    });
    root.addEventListener('pointerup', (event) => {
      if (event.pointerType !== 'mouse') {
        // A tap (not a scroll): the first picks the start, the second the end.
        if (!touch || touch.id !== event.pointerId || Math.hypot(event.clientX - touch.x, event.clientY - touch.y) > 10) return;
        touch = null;
        const cell = this.cellAt(event.clientX, event.clientY, false);
        if (cell) this.pick(this.cellStart(cell));
        return;
      }
      if (!this.dragging || this.anchor === null) return;
      const cell = this.cellAt(event.clientX, event.clientY, true);
      this.select(cell ? this.spanOf(this.anchor, this.cellStart(cell)) : this.dragging);
    });
    root.addEventListener('pointercancel', () => {
      touch = null;
      if (this.dragging) {
        this.dragging = null;
        this.drawSelection();
      }
    });
    root.addEventListener('focus', () => this.drawSelection());
    root.addEventListener('blur', () => this.drawSelection());
    root.addEventListener('keydown', (event) => this.onKey(event));
  }

  private onKey(event: KeyboardEvent): void {
    const heat = this.heat;
    if (!heat) return;
    const move = KEY_MOVES[event.key];
    if (move) {
      event.preventDefault();
      this.cursor = {
        col: Math.max(0, Math.min(heat.cols - 1, this.cursor.col + move[0])),
        row: Math.max(0, Math.min(HEAT_ROWS - 1, this.cursor.row + move[1])),
      };
      const count = heat.counts[this.cursor.col * HEAT_ROWS + this.cursor.row];
      this.status.textContent = `${formatSeconds(relSeconds(this.ctx.m, this.cellStart(this.cursor)), 1)}: ${formatAmount(count, this.ctx.m.unit)}`;
      this.drawSelection();
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.pick(this.cellStart(this.cursor));
    } else if (event.key === 'Escape') {
      if (this.pending !== null) {
        this.pending = null;
        this.drawSelection();
      } else if (this.ctx.state.range) {
        this.select(null);
      }
    }
  }
}

const KEY_MOVES: Partial<Record<string, readonly [number, number]>> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** The selection as rects: one per run of columns covered over the same rows (at most three for any range). */
function selectionRuns(heat: HeatGeometry, shown: TimeRange): Array<{ from: number; to: number; r0: number; r1: number }> {
  const runs: Array<{ from: number; to: number; r0: number; r1: number }> = [];
  for (let col = Math.floor(shown.t0 / heat.colMs); col * heat.colMs < shown.t1 && col < heat.cols; col++) {
    const c0 = col * heat.colMs;
    const r0 = Math.max(0, Math.floor((shown.t0 - c0) / heat.rowMs + 1e-9));
    const r1 = Math.min(HEAT_ROWS, Math.ceil((shown.t1 - c0) / heat.rowMs - 1e-9));
    if (r1 <= r0) continue;
    const last = runs[runs.length - 1];
    if (last && last.to === col && last.r0 === r0 && last.r1 === r1) last.to = col + 1;
    else runs.push({ from: col, to: col + 1, r0, r1 });
  }
  return runs;
}
