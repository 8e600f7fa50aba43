/**
 * What the parts of the incident view (heatmap, toolbar, flamegraph) share: the model, the page's
 * facts, the view state, and the cuts of the samples that state selects.
 */
import { Aggregates, type Aggregate } from './aggregate.js';
import type { PageFacts } from './page-facts.js';
import type { Model } from './samples-model.js';
import { initialState, writeHash, type AvailableViews, type TimeRange, type ViewState } from './url-state.js';

export class ViewContext {
  readonly state: ViewState = initialState();
  readonly aggregates: Aggregates;
  readonly available: AvailableViews;

  constructor(
    readonly m: Model,
    readonly page: PageFacts,
  ) {
    this.aggregates = new Aggregates(m);
    const hasBaseline = m.heldT !== null && this.aggregates.get(null, -Infinity, m.heldT).total > 0;
    this.available = { process: page.pid !== null, diff: hasBaseline };
  }

  /** The process the view shows alone, or null for all. */
  viewPid(): number | null {
    return this.state.view === 'process' ? this.page.pid : null;
  }

  /** Times of the flamegraph: the selection, else the whole window (the trigger window for diff). */
  flameRange(): TimeRange {
    const { state, m } = this;
    return state.range ?? (state.view === 'diff' && m.heldT !== null ? { t0: m.heldT, t1: Infinity } : { t0: -Infinity, t1: Infinity });
  }

  /** The samples the flamegraph draws. */
  flameAggregate(): Aggregate {
    const { t0, t1 } = this.flameRange();
    return this.aggregates.get(this.viewPid(), t0, t1);
  }

  /** What the diff view compares against: all samples before the condition held; null in other views. */
  baseline(): Aggregate | null {
    const heldT = this.m.heldT;
    return this.state.view === 'diff' && heldT !== null ? this.aggregates.get(null, -Infinity, heldT) : null;
  }

  /** Mirrors the state in location.hash. */
  writeHash(): void {
    writeHash(this.state, this.m);
  }
}
