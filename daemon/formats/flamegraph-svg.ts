/**
 * Standalone interactive SVG flamegraph, in the style of Brendan Gregg's flamegraph.pl: root at
 * the bottom, `comm` as the first frame, click to zoom, regex search, no external resources.
 *
 * Three parts: the SVG text (boxes come from `flamegraph-layout.ts`), the box colours (exported,
 * so other renderers of the same layout match), and the embedded script that makes it interactive.
 */
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import { escapeXml } from './escape-xml.js';
import { layoutFlamegraph, type FlameIdentity, type FlameKind, type FlameLayout } from './flamegraph-layout.js';

export interface FlamegraphOptions {
  /** Heading line. @defaultValue `profile.title`, else "Flame Graph" */
  title?: string;
  /** Second line. @defaultValue sample count, duration, frequency and start time */
  subtitle?: string;
  /** Image width in pixels. @defaultValue 1200 */
  width?: number;
  /** Frames narrower than this many pixels are not drawn (their samples still count). @defaultValue 0.1 */
  minWidthPx?: number;
  /** Keep only the stacks of this process id. */
  onlyPid?: number;
}

/** Font shared with the PNG renderer, which has the DejaVu fonts. */
const FONT_FAMILY = 'DejaVu Sans Mono, monospace';
const FONT_SIZE = 12;
/** Approximate advance of one monospace character, for cutting labels to fit. */
const CHAR_WIDTH = 0.59 * FONT_SIZE;
const ROW_HEIGHT = 16;
const XPAD = 10;
/** Title, subtitle, buttons and legend above the frames. */
const HEADER_HEIGHT = 80;
/** Details and "Matched" line below the frames. */
const FOOTER_HEIGHT = 34;
const MIN_WIDTH = 200;

/**
 * Renders the profile as a self-contained SVG document (UTF-8 text). Every name, path and title
 * is XML-escaped; the document is well-formed XML and works opened directly in a browser.
 */
export function renderFlamegraphSvg(profile: SymbolizedProfile, options: FlamegraphOptions = {}): string {
  const width = options.width ?? 1200;
  const minWidthPx = options.minWidthPx ?? 0.1;
  if (!(width >= MIN_WIDTH)) throw new RangeError(`flamegraph width must be at least ${MIN_WIDTH} px, got ${width}`);
  if (!(minWidthPx >= 0)) throw new RangeError(`flamegraph minWidthPx must be 0 or more, got ${minWidthPx}`);

  const areaWidth = width - 2 * XPAD;
  const layout = layoutFlamegraph(profile, { onlyPid: options.onlyPid, minFraction: minWidthPx / areaWidth });
  const empty = layout.totalSamples === 0;
  const height = empty ? HEADER_HEIGHT + 60 + FOOTER_HEIGHT : HEADER_HEIGHT + (layout.maxDepth + 1) * ROW_HEIGHT + FOOTER_HEIGHT;
  const title = options.title ?? profile.title ?? 'Flame Graph';
  const subtitle = options.subtitle ?? describe(profile, layout.totalSamples, options.onlyPid);

  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"`,
    ` font-family="${FONT_FAMILY}" font-size="${FONT_SIZE}"`,
    ` data-total="${layout.totalSamples}" data-xpad="${XPAD}" data-area-width="${areaWidth}"`,
    ` data-char-width="${CHAR_WIDTH}" data-match-color="${SEARCH_MATCH_COLOR}">\n`,
    `<title>${escapeXml(title)}</title>\n`,
    '<defs><linearGradient id="background" x1="0" y1="0" x2="0" y2="1">',
    '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>\n',
    '<style>#frames > g { cursor: pointer } #frames > g:hover > rect { stroke: #000; stroke-width: 0.5 }',
    ' .button { cursor: pointer; fill: #1a4c9c } .button:hover { text-decoration: underline }</style>\n',
    `<rect x="0" y="0" width="${width}" height="${height}" fill="url(#background)"/>\n`,
    `<text id="title" x="${width / 2}" y="24" text-anchor="middle" font-size="17">${escapeXml(title)}</text>\n`,
    `<text id="subtitle" x="${width / 2}" y="42" text-anchor="middle" fill="#555">${escapeXml(subtitle)}</text>\n`,
    `<text id="unzoom" class="button" x="${XPAD}" y="24" display="none">Reset Zoom</text>\n`,
    `<text id="search" class="button" x="${width - XPAD}" y="24" text-anchor="end">`,
    '<title>Search frames by regular expression (Ctrl+F, or ?s=REGEX in the URL); Escape clears</title>Search</text>\n',
    legend(),
  ];
  if (empty) {
    const what = options.onlyPid === undefined ? 'No samples' : `No samples for pid ${options.onlyPid}`;
    out.push(`<text x="${width / 2}" y="${HEADER_HEIGHT + 34}" text-anchor="middle" font-size="16">${what}</text>\n`);
  } else {
    writeFrames(out, layout, areaWidth);
  }
  out.push(
    `<text id="details" x="${XPAD}" y="${height - 12}"> </text>\n`,
    `<text id="matched" x="${width - XPAD}" y="${height - 12}" text-anchor="end"> </text>\n`,
    `<script type="text/ecmascript"><![CDATA[${FLAMEGRAPH_SCRIPT}]]></script>\n`,
    '</svg>\n',
  );
  return out.join('');
}

function writeFrames(out: string[], layout: FlameLayout, areaWidth: number): void {
  const { totalSamples, maxDepth, identities, rects } = layout;
  const scale = areaWidth / totalSamples;
  // Escaping, colouring and details are per identity, not per box: a hot function appears in
  // thousands of boxes of a large graph.
  const escaped: Array<string | undefined> = new Array(identities.length);
  const fill: Array<string | undefined> = new Array(identities.length);
  const extra: Array<string | undefined> = new Array(identities.length);

  out.push('<g id="frames">\n');
  for (const rect of rects) {
    const id = rect.identity;
    const identity = identities[id];
    const name = (escaped[id] ??= escapeXml(identity.name));
    const x = XPAD + rect.start * scale;
    const w = rect.samples * scale;
    const y = HEADER_HEIGHT + (maxDepth - rect.depth) * ROW_HEIGHT;
    const text = label(identity.name, w);
    out.push(
      `<g data-start="${rect.start}" data-samples="${rect.samples}" data-name-length="${identity.name.length}">`,
      `<title>${name} (${rect.samples} samples, ${percent(rect.samples, totalSamples)}%)${(extra[id] ??= detailLines(identity))}</title>`,
      `<rect x="${round2(x)}" y="${y}" width="${round2(w)}" height="${ROW_HEIGHT - 1}" fill="${(fill[id] ??= flameColor(identity.kind, identity.name))}"/>`,
      // Boxes too narrow for a label get no <text>; the script adds one if a zoom makes room.
      text === '' ? '</g>\n' : `<text x="${round2(x + 3)}" y="${y + 11}">${text === identity.name ? name : escapeXml(text)}</text></g>\n`,
    );
  }
  out.push('</g>\n');
}

/** The label that fits in `width` px: the name, or its start and "..", or nothing under 3 characters. */
function label(name: string, width: number): string {
  const chars = Math.floor((width - 6) / CHAR_WIDTH);
  if (chars < 3) return '';
  if (name.length <= chars) return name;
  let cut = chars - 2;
  // Never split a surrogate pair: half of one is not a character XML can carry.
  if (cut > 0 && isHighSurrogate(name.charCodeAt(cut - 1))) cut--;
  return name.slice(0, cut) + '..';
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Module and source location lines of a box's details, already escaped. */
function detailLines(identity: FlameIdentity): string {
  let lines = '';
  if (identity.module) lines += `\n${escapeXml(identity.module)}`;
  if (identity.file) lines += `\n${escapeXml(identity.file)}${identity.line === undefined ? '' : `:${identity.line}`}`;
  return lines;
}

function legend(): string {
  const parts = ['<g id="legend" font-size="11">'];
  let x = XPAD;
  for (const { label: text, color } of FLAMEGRAPH_LEGEND) {
    parts.push(`<rect x="${x}" y="54" width="10" height="10" fill="${color}"/><text x="${x + 14}" y="63">${text}</text>`);
    x += 14 + Math.ceil(text.length * 0.59 * 11) + 16;
  }
  parts.push('</g>\n');
  return parts.join('');
}

/** Default subtitle: how much was sampled, how, and when. */
function describe(profile: SymbolizedProfile, samples: number, onlyPid: number | undefined): string {
  const seconds = profile.durationNs / 1e9;
  const parts = [
    `${samples.toLocaleString('en-US')} samples`,
    `${seconds >= 10 ? seconds.toFixed(0) : seconds.toFixed(2)} s`,
    `${profile.frequency} Hz`,
  ];
  if (Number.isFinite(profile.startTimeMs)) {
    parts.push(`from ${new Date(profile.startTimeMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`);
  }
  if (onlyPid !== undefined) parts.push(`pid ${onlyPid} only`);
  return parts.join(' · ');
}

/** Share in percent with at most two decimals ("90", "0.11"); tiny shares keep two significant digits. */
function percent(part: number, whole: number): string {
  const value = (part * 100) / whole;
  return value >= 0.01 || value === 0 ? String(Math.round(value * 100) / 100) : value.toPrecision(2);
}

function round2(value: number): string {
  return String(Math.round(value * 100) / 100);
}

// ---------------------------------------------------------------------------------------------
// Colours: a hue family per kind of box and a shade within it picked by a hash of the name, so a
// function keeps its colour from one graph to the next. Exported for the other renderers.

/** Per channel: base value and how far the name hash may move it (0–255 scale). */
type Palette = readonly [r: number, rSpread: number, g: number, gSpread: number, b: number, bSpread: number];

const PALETTES: Record<FlameKind, Palette> = {
  root: [200, 0, 200, 0, 210, 0],
  process: [110, 30, 150, 30, 205, 35], // neutral blue
  kernel: [225, 30, 135, 55, 0, 45], // orange / amber
  native: [205, 50, 50, 70, 45, 45], // red / warm
  jit: [50, 60, 190, 60, 50, 50], // green
  unknown: [165, 45, 165, 45, 165, 45], // grey (all channels move together below)
};

/** Fill of boxes that match the current search. */
export const SEARCH_MATCH_COLOR = '#e600e6';

/** Labels and mid-shade colours for a legend, in the order they read best. */
export const FLAMEGRAPH_LEGEND: ReadonlyArray<{ label: string; color: string }> = [
  ...(
    [
      ['process', 'process'],
      ['kernel', 'kernel'],
      ['native', 'native (user)'],
      ['jit', 'jit'],
      ['unknown', 'unknown'],
    ] as const
  ).map(([kind, label]) => ({ label, color: shade(PALETTES[kind], 0.5, 0.5, 0.5) })),
  { label: 'search match', color: SEARCH_MATCH_COLOR },
];

/** The `#rrggbb` fill of a box of this kind and name. */
export function flameColor(kind: FlameKind, name: string): string {
  const h = fnv1a(name);
  const v1 = (h & 0xff) / 255;
  // Grey shades move all channels together so they stay grey.
  if (kind === 'unknown') return shade(PALETTES.unknown, v1, v1, v1);
  return shade(PALETTES[kind], v1, ((h >>> 8) & 0xff) / 255, ((h >>> 16) & 0xff) / 255);
}

function shade(p: Palette, v1: number, v2: number, v3: number): string {
  const channel = (base: number, spread: number, v: number): string =>
    Math.min(255, Math.round(base + spread * v))
      .toString(16)
      .padStart(2, '0');
  return `#${channel(p[0], p[1], v1)}${channel(p[2], p[3], v2)}${channel(p[4], p[5], v3)}`;
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
// The embedded script.

/**
 * The JavaScript embedded in SVG flamegraphs: click to zoom, Reset Zoom, regex search (button,
 * Ctrl+F or `?s=REGEX` in the URL; Escape clears) and a details line on hover.
 *
 * It carries no data of its own: it reads the numbers from attributes the renderer writes
 * (`data-total`, `data-xpad`, `data-area-width`, `data-char-width`, `data-match-color` on the
 * `<svg>`; `data-start`, `data-samples`, `data-name-length` on each frame `<g>` in `#frames`),
 * and frame names from each frame's `<title>`. Untrusted text is only ever set through
 * `textContent`, never parsed as markup. It must not contain `]]>` (it sits in a CDATA section).
 */
const FLAMEGRAPH_SCRIPT = String.raw`
(function () {
  'use strict';
  var script = document.currentScript;
  var svg = (script && script.ownerSVGElement) || document.documentElement;
  var num = function (el, name) { return Number(el.getAttribute(name)); };
  var total = num(svg, 'data-total');
  var xpad = num(svg, 'data-xpad');
  var areaWidth = num(svg, 'data-area-width');
  var charWidth = num(svg, 'data-char-width');
  var matchColor = svg.getAttribute('data-match-color');
  var framesGroup = svg.querySelector('#frames');
  var details = svg.querySelector('#details');
  var unzoomButton = svg.querySelector('#unzoom');
  var searchButton = svg.querySelector('#search');
  var matched = svg.querySelector('#matched');
  if (!framesGroup) return;

  // One record per frame, read once: zooming 100,000 frames must not re-parse attributes.
  var frames = [];
  var byGroup = new WeakMap();
  Array.prototype.forEach.call(framesGroup.children, function (g) {
    var rect = g.querySelector('rect');
    var title = g.querySelector('title').textContent;
    var frame = {
      g: g, rect: rect, text: g.querySelector('text'),
      start: num(g, 'data-start'), samples: num(g, 'data-samples'),
      name: title.slice(0, num(g, 'data-name-length')), details: title.replace(/\n/g, '  |  '),
      y: num(rect, 'y'), fill: rect.getAttribute('fill'), isRoot: frames.length === 0
    };
    frames.push(frame);
    byGroup.set(g, frame);
  });

  function frameOf(target) {
    var g = target && target.closest ? target.closest('#frames > g') : null;
    return g ? byGroup.get(g) : undefined;
  }

  // Same rule as the renderer: ".." marks a cut name; under 3 characters nothing is shown.
  function label(name, width) {
    var chars = Math.floor((width - 6) / charWidth);
    if (chars < 3) return '';
    return name.length <= chars ? name : name.slice(0, chars - 2) + '..';
  }

  function place(frame, x, width) {
    frame.g.removeAttribute('display');
    frame.rect.setAttribute('x', x.toFixed(2));
    frame.rect.setAttribute('width', width.toFixed(2));
    var text = label(frame.name, width);
    if (!frame.text) {
      if (!text) return;
      // The renderer leaves out labels of boxes too narrow for one; zooming may make room.
      frame.text = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      frame.text.setAttribute('y', (frame.y + 11).toString());
      frame.g.appendChild(frame.text);
    }
    frame.text.setAttribute('x', (x + 3).toFixed(2));
    frame.text.textContent = text;
  }

  function zoom(target) {
    if (target.isRoot) return unzoom();
    var lo = target.start, hi = target.start + target.samples, scale = areaWidth / target.samples;
    frames.forEach(function (frame) {
      var overlaps = frame.start < hi && frame.start + frame.samples > lo;
      if (!overlaps) {
        frame.g.setAttribute('display', 'none');
      } else if (frame.y > target.y) {
        // Drawn below the target, so shallower: an ancestor. Kept, full width, faded.
        frame.g.setAttribute('opacity', '0.5');
        place(frame, xpad, areaWidth);
      } else {
        frame.g.removeAttribute('opacity');
        place(frame, xpad + (frame.start - lo) * scale, frame.samples * scale);
      }
    });
    unzoomButton.removeAttribute('display');
  }

  function unzoom() {
    var scale = areaWidth / total;
    frames.forEach(function (frame) {
      frame.g.removeAttribute('opacity');
      place(frame, xpad + frame.start * scale, frame.samples * scale);
    });
    unzoomButton.setAttribute('display', 'none');
  }

  function resetSearch() {
    frames.forEach(function (frame) { frame.rect.setAttribute('fill', frame.fill); });
    matched.textContent = ' ';
  }

  function search(term) {
    resetSearch();
    if (!term) return;
    var re;
    try { re = new RegExp(term); } catch (e) { matched.textContent = 'Invalid regex: ' + term; return; }
    var ranges = [];
    frames.forEach(function (frame) {
      if (frame.isRoot || !re.test(frame.name)) return;
      frame.rect.setAttribute('fill', matchColor);
      ranges.push([frame.start, frame.start + frame.samples]);
    });
    // Union of the matched ranges, so a match nested in another match is not counted twice.
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    var covered = 0, end = -1;
    ranges.forEach(function (r) {
      if (r[1] <= end) return;
      covered += r[1] - Math.max(r[0], end);
      end = r[1];
    });
    matched.textContent = 'Matched: ' + (total > 0 ? covered * 100 / total : 0).toFixed(1) + '%';
  }

  function askSearch() {
    var term = window.prompt('Search frames (regular expression; empty clears):', '');
    if (term !== null) search(term);
  }

  framesGroup.addEventListener('click', function (e) {
    var frame = frameOf(e.target);
    if (frame) zoom(frame);
  });
  framesGroup.addEventListener('mouseover', function (e) {
    var frame = frameOf(e.target);
    if (frame) details.textContent = frame.details;
  });
  framesGroup.addEventListener('mouseout', function () { details.textContent = ' '; });
  unzoomButton.addEventListener('click', unzoom);
  searchButton.addEventListener('click', askSearch);
  window.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) {
      e.preventDefault();
      askSearch();
    } else if (e.key === 'Escape') {
      resetSearch();
    }
  });

  try {
    var fromUrl = new URLSearchParams(window.location.search).get('s');
    if (fromUrl) search(fromUrl);
  } catch (e) {
    // No usable location (e.g. an embedded copy): searching from the URL is just unavailable.
  }
})();
`;
