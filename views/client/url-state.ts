/**
 * The incident page's view state, mirrored in location.hash so a link restores it:
 * `view=all|process|diff`, `from`/`to` (seconds relative to fired_at), `q` (search), `zoom`
 * (frame names from the process down, `;`-separated, `\` escapes).
 */
import { relSeconds, type Model } from './samples-model.js';

export type View = 'all' | 'process' | 'diff';

/** A time range [t0, t1) in ms since the window start. */
export interface TimeRange {
  t0: number;
  t1: number;
}

export interface ViewState {
  view: View;
  /** Selected time range; null for the whole window. */
  range: TimeRange | null;
  query: string;
  /** Names from the process frame down to the zoomed frame; empty when not zoomed. */
  zoom: string[];
}

/** Which views this incident has. */
export interface AvailableViews {
  process: boolean;
  diff: boolean;
}

/** The state of a page opened without a hash. */
export function initialState(): ViewState {
  return { view: 'all', range: null, query: '', zoom: [] };
}

/** Names joined with `;`, `\` and `;` in them escaped. */
export const encodePath = (names: string[]): string => names.map((n) => n.replace(/[\\;]/g, '\\$&')).join(';');

/** The names of an {@link encodePath} text. */
export function decodePath(text: string): string[] {
  const names: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) current += text[++i];
    else if (c === ';') names.push(current), (current = '');
    else current += c;
  }
  if (text !== '') names.push(current);
  return names;
}

const hashSeconds = (seconds: number): string => String(Number(seconds.toFixed(3)));

/** Puts `state` in location.hash without adding a history entry (nothing when it is there already). */
export function writeHash(state: ViewState, m: Model): void {
  const params = new URLSearchParams();
  if (state.view !== 'all') params.set('view', state.view);
  if (state.range) {
    params.set('from', hashSeconds(relSeconds(m, state.range.t0)));
    params.set('to', hashSeconds(relSeconds(m, state.range.t1)));
  }
  if (state.query) params.set('q', state.query);
  if (state.zoom.length > 0) params.set('zoom', encodePath(state.zoom));
  const hash = params.toString();
  const url = location.pathname + location.search + (hash ? `#${hash}` : '');
  if (url !== location.pathname + location.search + location.hash) history.replaceState(history.state, '', url);
}

/** A hash of ours (`view=…&from=…`, or none), not a link to an anchor of the page such as `#notifications`. */
export const isStateHash = (): boolean => location.hash.length <= 1 || location.hash.includes('=');

/** Sets `state` from location.hash: views the incident lacks and ranges outside the window are dropped. */
export function readHash(state: ViewState, m: Model, available: AvailableViews): void {
  const params = new URLSearchParams(isStateHash() ? location.hash.slice(1) : '');
  const view = params.get('view');
  state.view = view === 'process' && available.process ? 'process' : view === 'diff' && available.diff ? 'diff' : 'all';
  const from = Number(params.get('from') ?? NaN);
  const to = Number(params.get('to') ?? NaN);
  const t0 = Math.max(0, m.firedT + from * 1000);
  const t1 = Math.min(m.windowMs, m.firedT + to * 1000);
  state.range = params.has('from') && params.has('to') && Number.isFinite(from) && Number.isFinite(to) && t1 > t0 ? { t0, t1 } : null;
  state.query = params.get('q') ?? '';
  state.zoom = decodePath(params.get('zoom') ?? '');
}
