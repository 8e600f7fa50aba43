/**
 * PNG flamegraph for Slack uploads and inline email images: the static variant of the SVG
 * flamegraph (same layout, colours and escaping, no script) rasterized by resvg.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as ResvgModule from '@resvg/resvg-js';
import { formatWeight, PROFILE_KINDS } from '../model/profile-kind.js';
import { weightPerStack, type SymbolizedProfile } from '../profile/symbolized-profile.js';
import { renderFlamegraphSvg } from './flamegraph-svg.js';
import { withPngText } from './png-text.js';

export interface FlamegraphPngOptions {
  /** The large first line: rule, host, time, value. The caller writes it; it is escaped here. */
  title: string;
  /** Second line. @defaultValue sample count, duration, frequency and start time */
  subtitle?: string;
  /** Image width in pixels. @defaultValue 1200 */
  width?: number;
  /** Keep only the stacks of this process id. */
  onlyPid?: number;
  /** What the profile was cut down to, when not the whole host (`burner (pid 4242)`, `nginx.service`). */
  scope?: string;
  /**
   * Draw at most this many levels above the root (level 1 is the process row); deeper frames
   * are cut. Stacks are also cut so the image stays at most {@link MAX_PNG_HEIGHT} px tall.
   * @defaultValue as many as fit in {@link MAX_PNG_HEIGHT}
   */
  maxDepthShown?: number;
}

/** Tallest PNG, in px: deeper stacks are cut at the top rather than making a huge image. */
export const MAX_PNG_HEIGHT = 900;

/** Where Debian's fonts-dejavu-core puts the fonts. */
const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
const FONT_FILES = ['DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf', 'DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => join(FONT_DIR, f));

let checkedFonts: string[] | undefined;

const require = createRequire(import.meta.url);
let resvgModule: typeof ResvgModule | undefined;
/**
 * resvg, loaded at the first PNG rather than at start: its native library and bindings are some
 * 8 MB of RSS that a daemon holds for nothing until a capture (bench/RESULTS.md, "Memory").
 * A synchronous require, so that rendering stays a plain function call.
 */
const resvg = (): typeof ResvgModule => (resvgModule ??= require('@resvg/resvg-js') as typeof ResvgModule);

/**
 * Renders the profile's flamegraph as a PNG (8-bit RGBA) exactly `width` px wide, with the title
 * and a description of what it shows — whose samples, how many, the hottest functions — as the
 * image's `Title` and `Description` text (see {@link describeFlamegraph}).
 *
 * Fonts come only from the DejaVu files, never from the machine's font configuration, so the
 * same profile gives the same image on every host.
 * @throws Error when the DejaVu fonts are not installed.
 */
export function renderFlamegraphPng(profile: SymbolizedProfile, options: FlamegraphPngOptions): Buffer {
  const svg = renderFlamegraphSvg(profile, {
    static: true,
    title: options.title,
    subtitle: options.subtitle,
    width: options.width,
    onlyPid: options.onlyPid,
    scope: options.scope,
    maxDepthShown: options.maxDepthShown,
    maxHeight: MAX_PNG_HEIGHT,
    // Boxes under half a pixel are faint slivers once rasterized, and each one costs resvg time.
    minWidthPx: 0.5,
  });
  const renderer = new (resvg().Resvg)(svg, {
    fitTo: { mode: 'original' },
    font: {
      fontFiles: fontFiles(),
      loadSystemFonts: false,
      defaultFontFamily: 'DejaVu Sans Mono',
      monospaceFamily: 'DejaVu Sans Mono',
      sansSerifFamily: 'DejaVu Sans',
    },
    logLevel: 'off',
  });
  return withPngText(renderer.render().asPng(), [
    ['Title', options.title],
    ['Description', describeFlamegraph(profile, options)],
  ]);
}

/** Functions a flamegraph's description names, and the longest name it writes whole (C++ templates run to kilobytes). */
const DESCRIBED_FUNCTIONS = 5;
const DESCRIBED_NAME_MAX = 200;

/**
 * In words, what a flamegraph image shows: `Flamegraph of burner (pid 4242): 1,980 samples.
 * Hottest functions (self): leaf_spin 98.5%, …` — the image's alt text, from the same samples.
 */
export function describeFlamegraph(profile: SymbolizedProfile, options: Pick<FlamegraphPngOptions, 'onlyPid' | 'scope'> = {}): string {
  const weights = weightPerStack(profile);
  const self = new Map<string, number>();
  let total = 0;
  profile.stacks.forEach((stack, s) => {
    if (weights[s] === 0 || (options.onlyPid !== undefined && stack.pid !== options.onlyPid)) return;
    total += weights[s];
    const leaf = stack.frames.length > 0 ? profile.frames[stack.frames[stack.frames.length - 1]]?.name : undefined;
    const name = leaf ?? stack.comm;
    self.set(name, (self.get(name) ?? 0) + weights[s]);
  });
  const scope = options.scope ?? (options.onlyPid === undefined ? 'every process' : `pid ${options.onlyPid}`);
  const kind = PROFILE_KINDS[profile.kind];
  const amount = profile.kind === 'cpu' ? `${total.toLocaleString('en-US')} samples` : `${kind.title.toLowerCase()}, ${formatWeight(total, kind.unit)}`;
  if (total === 0) return `Flamegraph of ${scope}: no samples.`;
  const hottest = [...self]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, DESCRIBED_FUNCTIONS)
    .map(([name, weight]) => `${name.length > DESCRIBED_NAME_MAX ? `${name.slice(0, DESCRIBED_NAME_MAX - 1)}…` : name} ${((weight / total) * 100).toFixed(1)}%`);
  return `Flamegraph of ${scope}: ${amount}. Hottest functions (self): ${hottest.join(', ')}.`;
}

/** The font paths, checked once: without them resvg would silently draw no text at all. */
function fontFiles(): string[] {
  if (checkedFonts) return checkedFonts;
  const missing = FONT_FILES.filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(`cannot render PNG flamegraphs: font file ${missing.join(', ')} not found; install them with: apt-get install fonts-dejavu-core`);
  }
  return (checkedFonts = FONT_FILES);
}
