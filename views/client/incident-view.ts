/**
 * The incident view: heatmap, toolbar and flamegraph over one model, kept in step with each other
 * and with location.hash.
 */
import { FlameToolbar } from './flame-toolbar.js';
import { Flamegraph } from './flamegraph.js';
import { Heatmap } from './heatmap.js';
import type { PageElements, PageFacts } from './page-facts.js';
import type { Model } from './samples-model.js';
import { isStateHash, readHash } from './url-state.js';
import { ViewContext } from './view-context.js';

/** Redraws wait for resizing to pause this long (ms). */
const RESIZE_DELAY_MS = 150;

/** Draws the view of `m` into the page, replacing the server's fallback (the still image) once drawn. */
export function startIncidentView(m: Model, page: PageFacts, elements: PageElements): void {
  const ctx = new ViewContext(m, page);
  readHash(ctx.state, m, ctx.available);

  const renderFlame = (): void => {
    toolbar.show(flamegraph.render());
    toolbar.setSearchResult(flamegraph.applySearch());
  };
  const heatmap = new Heatmap(ctx, elements.heatmap, elements.selection, () => {
    renderFlame();
    ctx.writeHash();
  });
  const toolbar = new FlameToolbar(ctx, elements.toolbar, {
    view: (view) => {
      const heatmapPid = ctx.viewPid();
      ctx.state.view = view;
      // The heatmap shows the process view's process alone, and all processes otherwise.
      if (ctx.viewPid() !== heatmapPid) heatmap.render();
      else heatmap.drawSelection();
      renderFlame();
      ctx.writeHash();
    },
    search: (query) => {
      ctx.state.query = query;
      toolbar.setSearchResult(flamegraph.applySearch());
      ctx.writeHash();
    },
    reset: () => flamegraph.zoomTo(0),
  });
  // The server's fallback (the still image, or a note that there is none) stays until the first render has worked.
  const fallback = elements.flamegraph ? [...elements.flamegraph.childNodes] : [];
  const flamegraph = new Flamegraph(ctx, elements.flamegraph, () => {
    renderFlame();
    ctx.writeHash();
  });

  const flameEl = elements.flamegraph;
  let lastWidth = flameEl ? flameEl.clientWidth : 0;
  let resizeTimer = 0;
  const onResize = (): void => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      const width = flameEl ? flameEl.clientWidth : 0;
      if (width === lastWidth) return;
      lastWidth = width;
      heatmap.render();
      renderFlame();
    }, RESIZE_DELAY_MS);
  };
  if (typeof ResizeObserver === 'function' && flameEl) new ResizeObserver(onResize).observe(flameEl);
  else window.addEventListener('resize', onResize);

  window.addEventListener('hashchange', () => {
    if (!isStateHash()) return;
    readHash(ctx.state, m, ctx.available);
    toolbar.setQuery(ctx.state.query);
    heatmap.cancelPick();
    heatmap.render();
    renderFlame();
  });

  heatmap.render();
  renderFlame();
  if (isStateHash()) ctx.writeHash();
  for (const node of fallback) node.remove();
}
