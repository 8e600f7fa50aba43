/**
 * Draws the FlameScope-style heatmap of the samples over the captured window: a column per second
 * (or wider, so cells stay visible), ten rows per column for its tenths, each cell coloured by its
 * count; the axes, the "baseline | trigger" and "fired" markers, and the colour scale.
 */
import { hex } from './flame-style.js';
import { svgEl } from './dom.js';
import { lowerBound, relSeconds, type Model } from './samples-model.js';
import { formatAmount, formatSeconds } from './text-format.js';

export const HEAT_ROWS = 10;
export const HEAT_ROW_PX = 14;
export const HEAT_MARGIN = { left: 52, right: 10, top: 22 } as const;

/** Heatmap columns widen (1 s, 2 s, 5 s …) until a cell is at least this wide. */
const MIN_CELL_PX = 6;
const COLUMN_MS = [1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];
const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
/** From few samples (pale yellow) to the busiest cell (dark red). */
const HEAT_PALETTE = [
  [255, 237, 160],
  [254, 178, 76],
  [240, 59, 32],
  [128, 0, 38],
] as const;

/** The grid of one drawing: where cells are and what they hold. */
export interface HeatGeometry {
  /** Time per column and per row, ms. */
  colMs: number;
  rowMs: number;
  cols: number;
  /** Width of a column and of the plot, px. */
  colW: number;
  plotW: number;
  /** Width of the whole image, px. */
  width: number;
  /** Samples per cell, column-major (col * HEAT_ROWS + row). */
  counts: Float64Array;
  /** What the counts count (Model.unit). */
  unit: string;
  /** The busiest cell's count. */
  max: number;
}

/** What to draw: the samples of process `pid` (null: all), `width` px wide. */
export interface HeatmapInput {
  m: Model;
  pid: number | null;
  /** The watched process's name, for the legend of the process view. */
  comm: string;
  width: number;
}

/** The heatmap's SVG (without a selection: that goes in its `.heat-overlay` group) and its grid. */
export function drawHeatmap({ m, pid, comm, width }: HeatmapInput): { root: SVGSVGElement; overlay: SVGGElement; heat: HeatGeometry } {
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
  const counts = countCells(m, pid, colMs, rowMs, cols);
  let max = 0;
  for (const c of counts) if (c > max) max = c;
  const heat: HeatGeometry = { colMs, rowMs, cols, colW: plotW / cols, plotW, width, counts, max, unit: m.unit };

  const gridH = HEAT_ROWS * HEAT_ROW_PX;
  const height = HEAT_MARGIN.top + gridH + 44;
  const root = svgEl('svg', {
    class: 'heatmap',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    tabindex: 0,
    role: 'application',
    'aria-roledescription': 'heatmap',
    'aria-label':
      'Samples over time: columns are seconds, rows parts of a second. Drag, or click a cell and shift-click another, to select a time range; arrow keys move, Enter picks the start and then the end, Escape clears.',
  });
  const x0 = HEAT_MARGIN.left;
  const y0 = HEAT_MARGIN.top;
  root.append(svgEl('rect', { class: 'heat-background', x: x0, y: y0, width: Math.min(plotW, (m.windowMs / colMs) * heat.colW), height: gridH }));
  root.append(cells(m, heat));
  root.append(axes(m, heat));
  root.append(markers(m, heat));
  const { defs, legend } = scale(heat, pid, comm);
  root.prepend(defs);
  root.append(legend);
  const overlay = svgEl('g', { class: 'heat-overlay' });
  root.append(overlay);
  return { root, overlay, heat };
}

function countCells(m: Model, pid: number | null, colMs: number, rowMs: number, cols: number): Float64Array {
  const counts = new Float64Array(cols * HEAT_ROWS);
  const a = m.sorted ? lowerBound(m.sampleT, 0) : 0;
  const b = m.sorted ? lowerBound(m.sampleT, m.windowMs) : m.sampleT.length;
  for (let i = a; i < b; i++) {
    const t = m.sampleT[i];
    if (!(t >= 0 && t < m.windowMs)) continue;
    if (pid !== null && m.stackPid[m.sampleStack[i]] !== pid) continue;
    const col = Math.floor(t / colMs);
    counts[col * HEAT_ROWS + Math.min(HEAT_ROWS - 1, Math.floor((t - col * colMs) / rowMs))] += m.sampleWeight ? m.sampleWeight[i] : 1;
  }
  return counts;
}

function cells(m: Model, heat: HeatGeometry): SVGGElement {
  const group = svgEl('g', { class: 'heat-cells' });
  const { colMs, rowMs, colW, counts, max } = heat;
  for (let col = 0; col < heat.cols; col++) {
    for (let row = 0; row < HEAT_ROWS; row++) {
      const count = counts[col * HEAT_ROWS + row];
      if (count === 0) continue;
      const t0 = col * colMs + row * rowMs;
      const rect = svgEl('rect', {
        class: 'heat-cell',
        x: (HEAT_MARGIN.left + col * colW).toFixed(2),
        y: HEAT_MARGIN.top + row * HEAT_ROW_PX,
        width: Math.max(1, colW - (colW >= 4 ? 1 : 0)).toFixed(2),
        height: HEAT_ROW_PX - 1,
        fill: heatColor(max > 1 ? (count - 1) / (max - 1) : 1),
        'data-t0': Math.round(t0),
        'data-t1': Math.round(t0 + rowMs),
        'data-count': count,
      });
      const title = svgEl('title');
      title.textContent = `${formatSeconds(relSeconds(m, t0), 1)}: ${formatAmount(count, m.unit)}`;
      rect.append(title);
      group.append(rect);
    }
  }
  return group;
}

/** Y: offset within the column; X: seconds relative to fired_at, at a step that leaves room for the labels. */
function axes(m: Model, heat: HeatGeometry): SVGGElement {
  const { colMs, rowMs, width } = heat;
  const x0 = HEAT_MARGIN.left;
  const y0 = HEAT_MARGIN.top;
  const gridH = HEAT_ROWS * HEAT_ROW_PX;
  const group = svgEl('g', { class: 'heat-axis' });
  for (let row = 0; row < HEAT_ROWS; row += 2) {
    const label = svgEl('text', { x: x0 - 6, y: y0 + row * HEAT_ROW_PX + HEAT_ROW_PX - 3, 'text-anchor': 'end' });
    label.textContent = colMs === 1000 ? `${row * rowMs} ms` : `+${((row * rowMs) / 1000).toFixed(1)} s`;
    group.append(label);
  }
  const pxPerSecond = (heat.colW * 1000) / colMs;
  const step = TICK_SECONDS.find((s) => s * pxPerSecond >= 52) ?? 3600;
  const firstRel = relSeconds(m, 0);
  const lastRel = relSeconds(m, m.windowMs);
  for (let s = Math.ceil(firstRel / step) * step; s <= lastRel + 1e-9; s += step) {
    const x = x0 + ((m.firedT + s * 1000) / colMs) * heat.colW;
    group.append(svgEl('line', { class: 'heat-tick', x1: x, x2: x, y1: y0 + gridH, y2: y0 + gridH + 4 }));
    // The outermost labels stay inside the image.
    const anchor = x + 22 > width ? 'end' : x - 22 < 0 ? 'start' : 'middle';
    const label = svgEl('text', { x, y: y0 + gridH + 16, 'text-anchor': anchor });
    label.textContent = formatSeconds(s, 0);
    group.append(label);
  }
  return group;
}

/** Where the condition began to hold (baseline | trigger) and when the rule fired. */
function markers(m: Model, heat: HeatGeometry): SVGGElement {
  const y0 = HEAT_MARGIN.top;
  const gridH = HEAT_ROWS * HEAT_ROW_PX;
  const group = svgEl('g', { class: 'heat-markers' });
  const xOf = (t: number): number => HEAT_MARGIN.left + (t / heat.colMs) * heat.colW;
  const firedX = xOf(m.firedT);
  const heldX = m.heldT === null ? null : xOf(m.heldT);
  const close = heldX !== null && Math.abs(firedX - heldX) < 90;
  if (heldX !== null && m.heldT !== null && m.heldT <= m.windowMs) {
    group.append(svgEl('line', { class: 'heat-marker held', x1: heldX, x2: heldX, y1: y0 - 6, y2: y0 + gridH }));
    const label = svgEl('text', { class: 'heat-marker-label held', x: heldX + (close ? -3 : 0), y: y0 - 9, 'text-anchor': close ? 'end' : 'middle' });
    label.textContent = 'baseline | trigger';
    const tip = svgEl('title');
    tip.textContent = `The rule's condition held from ${formatSeconds(relSeconds(m, m.heldT), 1)} on (held_since): before it is the baseline the diff compares against.`;
    label.append(tip);
    group.append(label);
  }
  if (m.firedT >= 0 && m.firedT <= m.windowMs) {
    group.append(svgEl('line', { class: 'heat-marker fired', x1: firedX, x2: firedX, y1: y0 - 6, y2: y0 + gridH }));
    const label = svgEl('text', { class: 'heat-marker-label fired', x: firedX + (close ? 3 : 0), y: y0 - 9, 'text-anchor': close ? 'start' : 'middle' });
    label.textContent = 'fired';
    group.append(label);
  }
  return group;
}

/** The colour scale up to the busiest cell: "1 [bar] 22 samples (max) per 100 ms", the bar first so the text never runs into it. */
function scale(heat: HeatGeometry, pid: number | null, comm: string): { defs: SVGDefsElement; legend: SVGGElement } {
  const { rowMs, max, width } = heat;
  const x0 = HEAT_MARGIN.left;
  const legendY = HEAT_MARGIN.top + HEAT_ROWS * HEAT_ROW_PX + 26;
  const gradient = svgEl('linearGradient', { id: 'heat-gradient', x1: 0, x2: 1, y1: 0, y2: 0 });
  HEAT_PALETTE.forEach((_, i) => {
    const at = i / (HEAT_PALETTE.length - 1);
    gradient.append(svgEl('stop', { offset: at, 'stop-color': heatColor(at) }));
  });
  const defs = svgEl('defs');
  defs.append(gradient);
  const legend = svgEl('g', { class: 'heat-legend' });
  const low = svgEl('text', { x: x0, y: legendY + 10 });
  low.textContent = heat.unit === 'samples' ? '1' : '0';
  legend.append(low, svgEl('rect', { class: 'heat-legend-bar', x: x0 + 12, y: legendY + 1, width: 100, height: 10, fill: 'url(#heat-gradient)' }));
  const high = svgEl('text', { x: x0 + 118, y: legendY + 10 });
  const cell = rowMs >= 1000 ? `${rowMs / 1000} s` : `${rowMs} ms`;
  high.textContent =
    width < 480 ? `${heat.unit === 'samples' ? max : formatAmount(max, heat.unit)} (max) per ${cell}` : `${formatAmount(max, heat.unit)} (max) per ${cell}${pid !== null && width >= 560 ? ` · ${comm || 'process'} (${pid}) only` : ''}`;
  legend.append(high);
  return { defs, legend };
}

/** The colour of a cell holding `share` (0–1) of the busiest cell's samples. */
function heatColor(share: number): string {
  const at = Math.max(0, Math.min(1, share)) * (HEAT_PALETTE.length - 1);
  const i = Math.min(HEAT_PALETTE.length - 2, Math.floor(at));
  const f = at - i;
  const a = HEAT_PALETTE[i];
  const b = HEAT_PALETTE[i + 1];
  return hex([a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f]);
}
