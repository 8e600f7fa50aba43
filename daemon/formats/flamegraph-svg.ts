/**
 * Standalone interactive SVG flamegraph, in the style of Brendan Gregg's flamegraph.pl: root at
 * the bottom, `comm` as the first frame, click to zoom, text search, no external resources.
 *
 * The SVG text is drawn here (boxes come from `flamegraph-layout.ts`); colours and label cutting
 * come from views/client/flame-style.ts, which the incident page's flamegraph uses too, and the
 * script that makes it interactive is views/client/svg-flamegraph.ts, built into one file and
 * embedded (see flamegraph-script.ts). The same text, with `static: true`, is the still image the
 * PNG renderer rasterizes, and with a `paint` hook it is the differential flamegraph: one drawing
 * code for all three.
 */
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import { FLAMEGRAPH_LEGEND, SEARCH_MATCH_COLOR, fitLabel, flameColor, type LegendEntry } from '../../views/client/flame-style.js';
import { escapeXml } from '../model/escape-xml.js';
import { formatWeight, PROFILE_KINDS, type ProfileKindName } from '../model/profile-kind.js';
import { layoutFlamegraph, type FlameIdentity, type FlameLayout } from './flamegraph-layout.js';
import { flamegraphScript } from './flamegraph-script.js';

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
  /**
   * What the profile was cut down to, when it is not the whole host (`burner (pid 4242)`,
   * `nginx.service`): the default subtitle ends in "<scope> only". @defaultValue `pid <onlyPid>`
   */
  scope?: string;
  /**
   * A still image, for rasterizing to PNG: no script, buttons, hover style or details line; a
   * bold title and larger rows (18 px) and labels (13 px), titles cut to the width.
   * @defaultValue false
   */
  static?: boolean;
  /**
   * Draw at most this many levels above the root (level 1 is the process row); deeper frames
   * are cut, the boxes they sat on get a dashed outline and a note below the graph says so.
   * @defaultValue no limit
   */
  maxDepthShown?: number;
  /** Cut deep stacks the same way so the image is at most this many pixels tall. @defaultValue no limit */
  maxHeight?: number;
  /**
   * Colours and tooltips for another kind of graph on the same layout (the differential
   * flamegraph). Called once with the layout about to be drawn. @defaultValue colour by kind and
   * name, tooltip with samples and share
   */
  paint?: (layout: FlameLayout) => FramePainter;
  /** Legend entries, left to right. @defaultValue {@link FLAMEGRAPH_LEGEND} (without "search match" when static) */
  legend?: readonly LegendEntry[];
}

/** How a {@link FlamegraphOptions.paint} hook draws each box, by index into `layout.rects`. */
export interface FramePainter {
  /** `#rrggbb` fill of the box. */
  fill(rectIndex: number): string;
  /** Plain text that follows the name in the box's tooltip, e.g. ": 12.0% → 31.5% (+19.5 points)". Escaped by the renderer. */
  summary(rectIndex: number): string;
}

/** Font shared with the PNG renderer, which has the DejaVu fonts. */
const FONT_FAMILY = 'DejaVu Sans Mono, monospace';
const XPAD = 10;
const MIN_WIDTH = 200;
/** Room for the "deeper frames not shown" line under the frames. */
const CUT_NOTE_HEIGHT = 20;

/** Sizes of one drawing style, in px. */
interface Geometry {
  fontSize: number;
  /** Advance of one label character, for cutting labels to fit; DejaVu Sans Mono's is 0.602 em. */
  charWidth: number;
  rowHeight: number;
  /** Label baseline below the top of its box. */
  labelDy: number;
  /** Title, subtitle, buttons and legend above the frames. */
  headerHeight: number;
  /** Details and "Matched" line (interactive) or a margin (static) below the frames. */
  footerHeight: number;
  titleSize: number;
  titleY: number;
  subtitleY: number;
  legendY: number;
}

// The interactive sizes are also what the script assumes (labels at y + 11, data-char-width).
const INTERACTIVE: Geometry = {
  fontSize: 12,
  charWidth: 0.59 * 12,
  rowHeight: 16,
  labelDy: 11,
  headerHeight: 80,
  footerHeight: 34,
  titleSize: 17,
  titleY: 24,
  subtitleY: 42,
  legendY: 54,
};

// A still is mostly seen scaled down in a chat preview: larger rows and text, and no cut label
// may run into its neighbour, so the true advance (plus a margin) is used.
const STILL: Geometry = {
  fontSize: 13,
  charWidth: 0.61 * 13,
  rowHeight: 18,
  labelDy: 13,
  headerHeight: 100,
  footerHeight: 10,
  titleSize: 28,
  titleY: 36,
  subtitleY: 62,
  legendY: 74,
};
const STILL_SUBTITLE_SIZE = 16;

/**
 * Renders the profile as a self-contained SVG document (UTF-8 text). Every name, path and title
 * is XML-escaped; the document is well-formed XML and works opened directly in a browser.
 */
export function renderFlamegraphSvg(profile: SymbolizedProfile, options: FlamegraphOptions = {}): string {
  const width = options.width ?? 1200;
  const minWidthPx = options.minWidthPx ?? 0.1;
  const still = options.static === true;
  const g = still ? STILL : INTERACTIVE;
  if (!(width >= MIN_WIDTH)) throw new RangeError(`flamegraph width must be at least ${MIN_WIDTH} px, got ${width}`);
  if (!(minWidthPx >= 0)) throw new RangeError(`flamegraph minWidthPx must be 0 or more, got ${minWidthPx}`);
  const depthLimit = depthLimitOf(options, g);

  const areaWidth = width - 2 * XPAD;
  const layout = layoutFlamegraph(profile, { onlyPid: options.onlyPid, minFraction: minWidthPx / areaWidth });
  const empty = layout.totalSamples === 0;
  const depthShown = Math.min(layout.maxDepth, depthLimit);
  const cutLevels = layout.maxDepth - depthShown;
  const framesHeight = empty ? 60 : (depthShown + 1) * g.rowHeight;
  const height = g.headerHeight + framesHeight + (cutLevels > 0 ? CUT_NOTE_HEIGHT : 0) + g.footerHeight;
  const title = options.title ?? profile.title ?? 'Flame Graph';
  const scope = options.scope ?? (options.onlyPid === undefined ? undefined : `pid ${options.onlyPid}`);
  const subtitle = options.subtitle ?? describe(profile, layout.totalSamples, scope);
  const legendEntries = options.legend ?? (still ? FLAMEGRAPH_LEGEND.filter((e) => e.color !== SEARCH_MATCH_COLOR) : FLAMEGRAPH_LEGEND);

  const out = new TextSink();
  out.push(
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"`,
    ` font-family="${FONT_FAMILY}" font-size="${g.fontSize}"`,
    ` data-total="${layout.totalSamples}" data-xpad="${XPAD}" data-area-width="${areaWidth}"`,
    ` data-char-width="${g.charWidth}" data-match-color="${SEARCH_MATCH_COLOR}">\n`,
    `<title>${escapeXml(title)}</title>\n`,
    '<defs><linearGradient id="background" x1="0" y1="0" x2="0" y2="1">',
    '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/></linearGradient></defs>\n',
  );
  if (!still) {
    out.push(
      '<style>#frames > g { cursor: pointer } #frames > g:hover > rect { stroke: #000; stroke-width: 0.5 }',
      ' .button { cursor: pointer; fill: #1a4c9c } .button:hover { text-decoration: underline }</style>\n',
    );
  }
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="url(#background)"/>\n`);
  if (still) {
    // Cut rather than overflow: a chat preview shows the start of a long title, not its middle.
    const titleText = fitLabel(title, areaWidth, 0.61 * g.titleSize) || title.slice(0, 1);
    const subtitleText = fitLabel(subtitle, areaWidth, 0.61 * STILL_SUBTITLE_SIZE);
    out.push(
      `<text id="title" x="${width / 2}" y="${g.titleY}" text-anchor="middle" font-size="${g.titleSize}" font-weight="bold">${escapeXml(titleText)}</text>\n`,
      `<text id="subtitle" x="${width / 2}" y="${g.subtitleY}" text-anchor="middle" font-size="${STILL_SUBTITLE_SIZE}" fill="#333">${escapeXml(subtitleText)}</text>\n`,
    );
  } else {
    out.push(
      `<text id="title" x="${width / 2}" y="${g.titleY}" text-anchor="middle" font-size="${g.titleSize}">${escapeXml(title)}</text>\n`,
      `<text id="subtitle" x="${width / 2}" y="${g.subtitleY}" text-anchor="middle" fill="#555">${escapeXml(subtitle)}</text>\n`,
      `<text id="unzoom" class="button" x="${XPAD}" y="24" display="none">Reset Zoom</text>\n`,
      `<text id="search" class="button" x="${width - XPAD}" y="24" text-anchor="end">`,
      '<title>Search frames by name: text in any case, a|b finds either (Ctrl+F, or ?s=TEXT in the URL); Escape clears</title>Search</text>\n',
    );
  }
  out.push(legend(legendEntries, g.legendY));
  if (empty) {
    const what = scope === undefined ? 'No samples' : `No samples for ${scope}`;
    out.push(`<text x="${width / 2}" y="${g.headerHeight + 34}" text-anchor="middle" font-size="16">${escapeXml(what)}</text>\n`);
  } else {
    writeFrames(out, layout, areaWidth, g, depthShown, options.paint?.(layout), profile.kind);
  }
  if (cutLevels > 0) {
    const note = `Stacks deeper than ${depthShown - 1} frames are cut at the dashed boxes (${cutLevels} more level${cutLevels === 1 ? '' : 's'} not shown)`;
    out.push(`<text id="cut" x="${XPAD}" y="${g.headerHeight + framesHeight + 14}" fill="#555">${note}</text>\n`);
  }
  if (!still) {
    out.push(
      `<text id="details" x="${XPAD}" y="${height - 12}"> </text>\n`,
      `<text id="matched" x="${width - XPAD}" y="${height - 12}" text-anchor="end"> </text>\n`,
      `<script type="text/ecmascript"><![CDATA[${flamegraphScript()}]]></script>\n`,
    );
  }
  out.push('</svg>\n');
  return out.toString();
}

/**
 * Collects the document text. A big graph is ~150,000 small strings: kept in one array until
 * the final join, every young-generation GC copies all of them again, which cost more than
 * building them. Here every 32K characters are joined into one flat string, so the small ones
 * die young and only a few hundred large ones live until the end (~40% faster at 50,000 stacks).
 */
class TextSink {
  private readonly parts: string[] = [];
  private batch: string[] = [];
  private batchChars = 0;

  push(...texts: string[]): void {
    for (const text of texts) {
      this.batch.push(text);
      this.batchChars += text.length;
    }
    if (this.batchChars >= SINK_BATCH_CHARS) this.flush();
  }

  toString(): string {
    this.flush();
    return this.parts.join('');
  }

  private flush(): void {
    this.parts.push(this.batch.join(''));
    this.batch = [];
    this.batchChars = 0;
  }
}

const SINK_BATCH_CHARS = 32 << 10;

/** The deepest level to draw, from `maxDepthShown` and `maxHeight`; Infinity when neither is set. */
function depthLimitOf(options: FlamegraphOptions, g: Geometry): number {
  let limit = Infinity;
  if (options.maxDepthShown !== undefined) {
    if (!(Number.isInteger(options.maxDepthShown) && options.maxDepthShown >= 1)) {
      throw new RangeError(`flamegraph maxDepthShown must be a whole number of levels, 1 or more, got ${options.maxDepthShown}`);
    }
    limit = options.maxDepthShown;
  }
  if (options.maxHeight !== undefined) {
    // Room for the root, the process row and one frame, with the cut note budgeted in.
    const fixed = g.headerHeight + g.footerHeight + CUT_NOTE_HEIGHT;
    const least = fixed + 3 * g.rowHeight;
    if (!(options.maxHeight >= least)) throw new RangeError(`flamegraph maxHeight must be at least ${least} px, got ${options.maxHeight}`);
    limit = Math.min(limit, Math.floor((options.maxHeight - fixed) / g.rowHeight) - 1);
  }
  return limit;
}

function writeFrames(out: TextSink, layout: FlameLayout, areaWidth: number, g: Geometry, depthShown: number, painter: FramePainter | undefined, kind: ProfileKindName): void {
  const { totalSamples, identities, rects } = layout;
  const scale = areaWidth / totalSamples;
  // Escaping, colouring and details are per identity, not per box: a hot function appears in
  // thousands of boxes of a large graph.
  const escaped: Array<string | undefined> = new Array(identities.length);
  const fill: Array<string | undefined> = new Array(identities.length);
  const extra: Array<string | undefined> = new Array(identities.length);
  // Boxes whose callees are cut off by the depth limit, outlined so the cut is visible in place.
  const cut = new Uint8Array(layout.maxDepth > depthShown ? rects.length : 0);
  if (cut.length > 0) for (const rect of rects) if (rect.depth === depthShown + 1) cut[rect.parent] = 1;

  out.push('<g id="frames">\n');
  for (let i = 0; i < rects.length; i++) {
    const rect = rects[i];
    if (rect.depth > depthShown) continue;
    const id = rect.identity;
    const identity = identities[id];
    const name = (escaped[id] ??= escapeXml(identity.name));
    const x = XPAD + rect.start * scale;
    const w = rect.samples * scale;
    const y = g.headerHeight + (depthShown - rect.depth) * g.rowHeight;
    const text = fitLabel(identity.name, w, g.charWidth);
    const summary = painter ? escapeXml(painter.summary(i)) : ` (${escapeXml(weightText(rect.samples, kind))}, ${percent(rect.samples, totalSamples)}%)`;
    const color = painter ? escapeXml(painter.fill(i)) : (fill[id] ??= flameColor(identity.kind, identity.name));
    out.push(
      `<g data-start="${rect.start}" data-samples="${rect.samples}" data-name-length="${identity.name.length}">`,
      `<title>${name}${summary}${(extra[id] ??= detailLines(identity))}</title>`,
      `<rect x="${round2(x)}" y="${y}" width="${round2(w)}" height="${g.rowHeight - 1}" fill="${color}"`,
      cut.length > 0 && cut[i] === 1 ? ' stroke="#222" stroke-dasharray="4 3"/>' : '/>',
      // Boxes too narrow for a label get no <text>; the script adds one if a zoom makes room.
      text === '' ? '</g>\n' : `<text x="${round2(x + 3)}" y="${y + g.labelDy}">${text === identity.name ? name : escapeXml(text)}</text></g>\n`,
    );
  }
  out.push('</g>\n');
}

/** Module and source location lines of a box's details, already escaped. */
function detailLines(identity: FlameIdentity): string {
  let lines = '';
  if (identity.module) lines += `\n${escapeXml(identity.module)}`;
  if (identity.file) lines += `\n${escapeXml(identity.file)}${identity.line === undefined ? '' : `:${identity.line}`}`;
  return lines;
}

function legend(entries: readonly LegendEntry[], y: number): string {
  const parts = ['<g id="legend" font-size="11">'];
  let x = XPAD;
  for (const { label: text, color } of entries) {
    parts.push(`<rect x="${x}" y="${y}" width="10" height="10" fill="${escapeXml(color)}"/><text x="${x + 14}" y="${y + 9}">${escapeXml(text)}</text>`);
    x += 14 + Math.ceil(text.length * 0.59 * 11) + 16;
  }
  parts.push('</g>\n');
  return parts.join('');
}

/** A box's weight in its tooltip: `90 samples` for CPU (as perf and flamegraph.pl say it), `1.5 MiB` for bytes … */
function weightText(weight: number, kind: ProfileKindName): string {
  return kind === 'cpu' ? `${weight} samples` : formatWeight(weight, PROFILE_KINDS[kind].unit);
}

/** Default subtitle: how much was sampled (and what it weighs, for a kind other than CPU), how, and when. */
function describe(profile: SymbolizedProfile, total: number, scope: string | undefined): string {
  const seconds = profile.durationNs / 1e9;
  const kind = PROFILE_KINDS[profile.kind];
  const parts = [
    profile.kind === 'cpu' ? `${total.toLocaleString('en-US')} samples` : `${kind.title}: ${formatWeight(total, kind.unit)} in ${profile.samples.stack.length.toLocaleString('en-US')} samples`,
    `${seconds >= 10 ? seconds.toFixed(0) : seconds.toFixed(2)} s`,
    `${profile.frequency} Hz`,
  ];
  if (Number.isFinite(profile.startTimeMs)) {
    parts.push(`from ${new Date(profile.startTimeMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`);
  }
  if (scope !== undefined) parts.push(`${scope} only`);
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
