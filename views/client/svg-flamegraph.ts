/**
 * The script embedded in every interactive SVG flamegraph (daemon/formats/flamegraph-svg.ts):
 * click to zoom, Reset Zoom, search by name (plain text in any case, `a|b` for either; button,
 * Ctrl+F or `?s=TEXT` in the URL; Escape clears) and a details line on hover.
 *
 * Bundled on its own into one classic script (scripts/build-client.mjs) that the renderer puts in
 * a CDATA section of each SVG, so a downloaded file works offline. It carries no data of its own:
 * it reads the numbers from attributes the renderer writes (`data-total`, `data-xpad`,
 * `data-area-width`, `data-char-width`, `data-match-color` on the `<svg>`; `data-start`,
 * `data-samples`, `data-name-length` on each frame `<g>` in `#frames`), and frame names from each
 * frame's `<title>`. Untrusted text is only ever set through `textContent`, never parsed as markup.
 */
import { fitLabel } from './flame-style.js';
import { textMatcher } from './text-matcher.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** The label baseline below the top of a box: the renderer's interactive geometry. */
const LABEL_DY = 11;

interface Frame {
  g: SVGGElement;
  rect: SVGRectElement;
  text: SVGTextElement | null;
  start: number;
  samples: number;
  name: string;
  details: string;
  y: number;
  fill: string;
  isRoot: boolean;
}

function setUp(): void {
  const script = document.currentScript;
  const svg: Element = (script instanceof SVGElement && script.ownerSVGElement) || document.documentElement;
  const num = (el: Element, name: string): number => Number(el.getAttribute(name));
  const total = num(svg, 'data-total');
  const xpad = num(svg, 'data-xpad');
  const areaWidth = num(svg, 'data-area-width');
  const charWidth = num(svg, 'data-char-width');
  const matchColor = svg.getAttribute('data-match-color') ?? '';
  const framesGroup = svg.querySelector('#frames');
  const details = svg.querySelector('#details');
  const unzoomButton = svg.querySelector('#unzoom');
  const searchButton = svg.querySelector('#search');
  const matched = svg.querySelector('#matched');
  if (!framesGroup || !details || !unzoomButton || !searchButton || !matched) return;

  // One record per frame, read once: zooming 100,000 frames must not re-parse attributes.
  const frames: Frame[] = [];
  const byGroup = new WeakMap<Element, Frame>();
  for (const g of framesGroup.children) {
    const rect = g.querySelector('rect');
    if (!(g instanceof SVGGElement) || !rect) continue;
    const title = g.querySelector('title')?.textContent ?? '';
    const frame: Frame = {
      g,
      rect,
      text: g.querySelector('text'),
      start: num(g, 'data-start'),
      samples: num(g, 'data-samples'),
      name: title.slice(0, num(g, 'data-name-length')),
      details: title.replace(/\n/g, '  |  '),
      y: num(rect, 'y'),
      fill: rect.getAttribute('fill') ?? '',
      isRoot: frames.length === 0,
    };
    frames.push(frame);
    byGroup.set(g, frame);
  }

  const frameOf = (target: EventTarget | null): Frame | undefined => {
    const g = target instanceof Element ? target.closest('#frames > g') : null;
    return g ? byGroup.get(g) : undefined;
  };

  const place = (frame: Frame, x: number, width: number): void => {
    frame.g.removeAttribute('display');
    frame.rect.setAttribute('x', x.toFixed(2));
    frame.rect.setAttribute('width', width.toFixed(2));
    const text = fitLabel(frame.name, width, charWidth);
    if (!frame.text) {
      if (!text) return;
      // The renderer leaves out labels of boxes too narrow for one; zooming may make room.
      frame.text = document.createElementNS(SVG_NS, 'text');
      frame.text.setAttribute('y', String(frame.y + LABEL_DY));
      frame.g.appendChild(frame.text);
    }
    frame.text.setAttribute('x', (x + 3).toFixed(2));
    frame.text.textContent = text;
  };

  const unzoom = (): void => {
    const scale = areaWidth / total;
    for (const frame of frames) {
      frame.g.removeAttribute('opacity');
      place(frame, xpad + frame.start * scale, frame.samples * scale);
    }
    unzoomButton.setAttribute('display', 'none');
  };

  const zoom = (target: Frame): void => {
    if (target.isRoot) return unzoom();
    const lo = target.start;
    const hi = target.start + target.samples;
    const scale = areaWidth / target.samples;
    for (const frame of frames) {
      const overlaps = frame.start < hi && frame.start + frame.samples > lo;
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
    }
    unzoomButton.removeAttribute('display');
  };

  const resetSearch = (): void => {
    for (const frame of frames) frame.rect.setAttribute('fill', frame.fill);
    matched.textContent = ' ';
  };

  const search = (term: string): void => {
    resetSearch();
    const test = textMatcher(term);
    if (!test) return;
    const ranges: Array<[number, number]> = [];
    for (const frame of frames) {
      if (frame.isRoot || !test(frame.name)) continue;
      frame.rect.setAttribute('fill', matchColor);
      ranges.push([frame.start, frame.start + frame.samples]);
    }
    // Union of the matched ranges, so a match nested in another match is not counted twice.
    ranges.sort((a, b) => a[0] - b[0]);
    let covered = 0;
    let end = -1;
    for (const [from, to] of ranges) {
      if (to <= end) continue;
      covered += to - Math.max(from, end);
      end = to;
    }
    matched.textContent = `Matched: ${(total > 0 ? (covered * 100) / total : 0).toFixed(1)}%`;
  };

  const askSearch = (): void => {
    const term = window.prompt('Search frames (text, any case; a|b finds either; empty clears):', '');
    if (term !== null) search(term);
  };

  framesGroup.addEventListener('click', (event) => {
    const frame = frameOf(event.target);
    if (frame) zoom(frame);
  });
  framesGroup.addEventListener('mouseover', (event) => {
    const frame = frameOf(event.target);
    if (frame) details.textContent = frame.details;
  });
  framesGroup.addEventListener('mouseout', () => (details.textContent = ' '));
  unzoomButton.addEventListener('click', unzoom);
  searchButton.addEventListener('click', askSearch);
  window.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && (event.key === 'f' || event.key === 'F')) {
      event.preventDefault();
      askSearch();
    } else if (event.key === 'Escape') {
      resetSearch();
    }
  });

  try {
    const fromUrl = new URLSearchParams(window.location.search).get('s');
    if (fromUrl) search(fromUrl);
  } catch {
    // No usable location (e.g. an embedded copy): searching from the URL is just unavailable.
  }
}

setUp();
