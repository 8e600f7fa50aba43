/**
 * PNG flamegraph for Slack uploads and inline email images: the static variant of the SVG
 * flamegraph (same layout, colours and escaping, no script) rasterized by resvg.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import { renderFlamegraphSvg } from './flamegraph-svg.js';

export interface FlamegraphPngOptions {
  /** The large first line: rule, host, time, value. The caller writes it; it is escaped here. */
  title: string;
  /** Second line. @defaultValue sample count, duration, frequency and start time */
  subtitle?: string;
  /** Image width in pixels. @defaultValue 1200 */
  width?: number;
  /** Keep only the stacks of this process id. */
  onlyPid?: number;
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

/**
 * Renders the profile's flamegraph as a PNG (8-bit RGBA) exactly `width` px wide.
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
    maxDepthShown: options.maxDepthShown,
    maxHeight: MAX_PNG_HEIGHT,
    // Boxes under half a pixel are faint slivers once rasterized, and each one costs resvg time.
    minWidthPx: 0.5,
  });
  const resvg = new Resvg(svg, {
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
  return resvg.render().asPng();
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
