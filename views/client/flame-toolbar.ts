/**
 * The flamegraph's toolbar: which samples (all processes, the triggering process, the diff
 * against the baseline), the search box and its result, Reset zoom, the legend and a caption
 * saying what is drawn.
 */
import type { Aggregate } from './aggregate.js';
import { el } from './dom.js';
import { DIFF_LEGEND, FLAMEGRAPH_LEGEND, type LegendEntry } from './flame-style.js';
import { relSeconds } from './samples-model.js';
import { formatAmount, formatSeconds } from './text-format.js';
import type { View } from './url-state.js';
import type { ViewContext } from './view-context.js';

/** What the toolbar's controls ask for. */
export interface ToolbarActions {
  /** Another view was picked (an enabled one, not the current one). */
  view(view: View): void;
  /** The search text changed (after typing paused). */
  search(query: string): void;
  reset(): void;
}

/** What the flamegraph drew, for the toolbar to describe. */
export interface DrawnSummary {
  agg: Aggregate;
  /** The diff view's baseline, else null. */
  baseline: Aggregate | null;
  zoomed: boolean;
}

/** Typing pauses this long before the search runs (ms). */
const SEARCH_DELAY_MS = 120;

export class FlameToolbar {
  private readonly viewButtons: Record<View, HTMLButtonElement>;
  private readonly searchBox = el('input', {
    id: 'flame-search',
    type: 'search',
    placeholder: 'Search functions (a|b for either)',
    'aria-label': 'Search functions by name: text in any case, a|b finds either',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  private readonly searchResult = el('span', { id: 'flame-search-result', 'aria-live': 'polite' });
  private readonly resetButton = el('button', { id: 'flame-reset', type: 'button' }, 'Reset zoom');
  private readonly legend = el('div', { class: 'flame-legend', 'aria-hidden': 'true' });
  private readonly caption = el('p', { id: 'flame-caption' });
  private shownLegend: readonly LegendEntry[] | null = null;

  constructor(
    private readonly ctx: ViewContext,
    container: HTMLElement | null,
    actions: ToolbarActions,
  ) {
    const { page, available } = ctx;
    this.viewButtons = {
      all: el('button', { type: 'button', 'data-view': 'all' }, 'All processes'),
      process: el('button', { type: 'button', 'data-view': 'process' }, page.pid !== null ? `${page.comm || 'process'} (${page.pid})` : 'Triggering process'),
      diff: el('button', { type: 'button', 'data-view': 'diff' }, 'Diff vs baseline'),
    };
    const buttons = this.viewButtons;
    buttons.all.title = 'Every process sampled in the window';
    buttons.process.title = page.pid !== null ? 'Only the process the rule watched' : 'The rule did not watch a process';
    buttons.diff.title = available.diff
      ? 'The trigger window (or the selection) coloured by how each frame’s share of samples changed against the baseline before the condition held: red grew, blue shrank'
      : 'No baseline: the incident has no samples from before the condition began to hold';
    buttons.process.disabled = !available.process;
    buttons.diff.disabled = !available.diff;
    this.searchBox.value = ctx.state.query;

    for (const [view, button] of Object.entries(buttons) as Array<[View, HTMLButtonElement]>) {
      button.addEventListener('click', () => {
        if (!button.disabled && ctx.state.view !== view) actions.view(view);
      });
    }
    this.resetButton.addEventListener('click', () => actions.reset());
    let searchTimer = 0;
    this.searchBox.addEventListener('input', () => {
      clearTimeout(searchTimer);
      searchTimer = window.setTimeout(() => actions.search(this.searchBox.value), SEARCH_DELAY_MS);
    });

    if (container) {
      const views = el('div', { class: 'flame-views', role: 'group', 'aria-label': 'Flamegraph of' });
      views.append(buttons.all, buttons.process, buttons.diff);
      const search = el('div', { class: 'flame-search' });
      search.append(this.searchBox, this.searchResult);
      const row = el('div', { class: 'flame-toolbar-row' });
      row.append(views, search, this.resetButton);
      container.replaceChildren(row, this.legend, this.caption);
    }
  }

  /** Shows the state of the view and describes what the flamegraph drew. */
  show(drawn: DrawnSummary): void {
    this.resetButton.disabled = !drawn.zoomed;
    for (const [view, button] of Object.entries(this.viewButtons)) button.setAttribute('aria-pressed', String(view === this.ctx.state.view));
    this.drawLegend(drawn.baseline ? DIFF_LEGEND : FLAMEGRAPH_LEGEND);
    this.caption.textContent = this.captionText(drawn.agg, drawn.baseline);
  }

  /** "Matched: 12.5% of samples", "No match", or '' when not searching. */
  setSearchResult(text: string): void {
    this.searchResult.textContent = text;
  }

  /** Puts a query read from the URL in the search box. */
  setQuery(query: string): void {
    this.searchBox.value = query;
  }

  /** The renderers' own legend: same labels, same swatch colours (set through the CSSOM, which the CSP allows). */
  private drawLegend(entries: readonly LegendEntry[]): void {
    if (entries === this.shownLegend) return;
    this.shownLegend = entries;
    this.legend.replaceChildren(
      ...entries.map(({ label, color }) => {
        const item = el('span', { class: 'flame-legend-item' });
        const swatch = el('span', { class: 'swatch' });
        swatch.style.backgroundColor = color;
        item.append(swatch, label);
        return item;
      }),
    );
  }

  private captionText(agg: Aggregate, baseline: Aggregate | null): string {
    const { m, page, state } = this.ctx;
    const range = this.ctx.flameRange();
    const when =
      !Number.isFinite(range.t0) && !Number.isFinite(range.t1)
        ? 'whole window'
        : `${formatSeconds(relSeconds(m, Math.max(0, range.t0)), 1)} … ${formatSeconds(relSeconds(m, Math.min(m.windowMs, range.t1)), 1)}`;
    const who = state.view === 'process' ? `${page.comm || 'process'} (${page.pid})` : 'all processes';
    let text = `${who} · ${when} · ${formatAmount(agg.total, m.unit)}`;
    if (baseline && m.heldT !== null) {
      text += ` · width: ${m.unit === 'samples' ? 'these samples' : `these ${m.unit}`}; colour: change of each frame’s share against the baseline before ${formatSeconds(relSeconds(m, m.heldT), 1)} (${formatAmount(baseline.total, m.unit)}): red grew, blue shrank`;
    }
    return text;
  }
}
