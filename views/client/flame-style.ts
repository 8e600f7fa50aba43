/**
 * How flamegraph boxes look, in one place for every renderer: the server's SVG, PNG and
 * differential flamegraphs (daemon/formats/) and the browser's (the incident page and the script
 * embedded in the SVGs). Colours by kind and name, the diff scale from blue through grey to red,
 * the legends, and how a name is cut to fit its box.
 *
 * Runs in Node and in browsers alike, so it imports nothing and uses no DOM or Node API.
 */

/** What a box stands for, as far as its colour goes. */
export type FlameStyleKind = 'root' | 'process' | 'kernel' | 'native' | 'jit' | 'unknown';

/** One legend entry: its text and its `#rrggbb` swatch. */
export interface LegendEntry {
  label: string;
  color: string;
}

// ---------------------------------------------------------------------------------------------
// Colours by kind: a hue family per kind of box and a shade within it picked by a hash of the
// name, so a function keeps its colour from one graph to the next.

/** Per channel: base value and how far the name hash may move it (0–255 scale). */
type Palette = readonly [r: number, rSpread: number, g: number, gSpread: number, b: number, bSpread: number];

const PALETTES: Readonly<Record<FlameStyleKind, Palette>> = {
  root: [200, 0, 200, 0, 210, 0],
  process: [110, 30, 150, 30, 205, 35], // neutral blue
  kernel: [225, 30, 135, 55, 0, 45], // orange / amber
  native: [205, 50, 50, 70, 45, 45], // red / warm
  jit: [50, 60, 190, 60, 50, 50], // green
  unknown: [165, 45, 165, 45, 165, 45], // grey (all channels move together below)
};

/** Fill of boxes that match the current search. */
export const SEARCH_MATCH_COLOR = '#e600e6';

// Legends are made by calls marked pure, so a bundle that uses none (the SVG's script) drops them.

/** Labels and mid-shade colours of the kinds, in the order they read best, then the search match. */
export const FLAMEGRAPH_LEGEND: readonly LegendEntry[] = /* @__PURE__ */ kindLegend();

function kindLegend(): LegendEntry[] {
  const kinds = [
    ['process', 'process'],
    ['kernel', 'kernel'],
    ['native', 'native (user)'],
    ['jit', 'jit'],
    ['unknown', 'unknown'],
  ] as const;
  return [...kinds.map(([kind, label]) => ({ label, color: shade(PALETTES[kind], 0.5, 0.5, 0.5) })), { label: 'search match', color: SEARCH_MATCH_COLOR }];
}

/** The `#rrggbb` fill of a box of this kind and name. */
export function flameColor(kind: FlameStyleKind, name: string): string {
  const h = fnv1a(name);
  const v1 = (h & 0xff) / 255;
  // Grey shades move all channels together so they stay grey.
  if (kind === 'unknown') return shade(PALETTES.unknown, v1, v1, v1);
  return shade(PALETTES[kind], v1, ((h >>> 8) & 0xff) / 255, ((h >>> 16) & 0xff) / 255);
}

function shade(p: Palette, v1: number, v2: number, v3: number): string {
  return hex([p[0] + p[1] * v1, p[2] + p[3] * v2, p[4] + p[5] * v3]);
}

/** 32-bit FNV-1a over UTF-16 code units: cheap, stable, and spreads similar names apart. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Colours of the differential flamegraph: how a box's share of samples changed.

type Rgb = readonly [number, number, number];
const UNCHANGED: Rgb = [0xdc, 0xdc, 0xdc];
const GREW: Rgb = [0xe0, 0x34, 0x24];
const SHRANK: Rgb = [0x3a, 0x72, 0xe0];

/**
 * A change of this many points or more gets the full colour even when nothing changed more, so
 * a graph of small noise stays pale instead of being scaled up to look alarming. Renderers pass
 * the largest change they draw, but at least this, as `scale` to {@link diffColor}.
 */
export const FULL_COLOUR_POINTS = 5;

/** The differential flamegraph's legend. */
export const DIFF_LEGEND: readonly LegendEntry[] = /* @__PURE__ */ diffLegend();

function diffLegend(): LegendEntry[] {
  return [
    { label: 'grew', color: hex(GREW) },
    { label: 'shrank', color: hex(SHRANK) },
    { label: 'unchanged', color: hex(UNCHANGED) },
    { label: 'search match', color: SEARCH_MATCH_COLOR },
  ];
}

/**
 * Fill for a change of `points` (percentage points of share): grey at 0, towards red (grew) or
 * blue (shrank) with the size of the change relative to `scale` (points, > 0). The square root
 * keeps changes of a few points visible next to one large one.
 */
export function diffColor(points: number, scale: number): string {
  const strength = Math.sqrt(Math.min(1, Math.abs(points) / scale));
  const target = points > 0 ? GREW : SHRANK;
  const mix = (c: number): number => UNCHANGED[c] + (target[c] - UNCHANGED[c]) * strength;
  return hex([mix(0), mix(1), mix(2)]);
}

/** `#rrggbb` of channels on the 0–255 scale, rounded and clamped. */
export function hex(rgb: Rgb): string {
  let text = '#';
  for (const value of rgb) text += Math.min(255, Math.max(0, Math.round(value))).toString(16).padStart(2, '0');
  return text;
}

// ---------------------------------------------------------------------------------------------
// Labels.

/**
 * The text of `name` that fits in a box `width` px wide with characters `charWidth` px apart
 * (3 px of padding each side): all of it, or its start and "..", or nothing when fewer than 3
 * characters fit. A cut never falls inside a UTF-16 surrogate pair: half of one is not a
 * character, and XML cannot carry it.
 */
export function fitLabel(name: string, width: number, charWidth: number): string {
  const chars = Math.floor((width - 6) / charWidth);
  if (chars < 3) return '';
  if (name.length <= chars) return name;
  let cut = chars - 2;
  if (cut > 0 && isHighSurrogate(name.charCodeAt(cut - 1))) cut--;
  return name.slice(0, cut) + '..';
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
