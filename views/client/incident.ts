/**
 * The incident page's script (bundled into /static/incident.js by scripts/build-client.mjs): a
 * FlameScope-style heatmap of the incident's samples over time and an interactive flamegraph of
 * the samples of the selected time range, drawn from samples.json.gz.
 *
 * Every name in the profile (symbols, comms, module paths) is untrusted: it only ever reaches the
 * page through textContent, setAttribute or a title attribute. The page runs under a strict CSP,
 * so styles are set through the CSSOM (element.style.x) and no handler is inline.
 */
import { setUpCopyLink } from './copy-link.js';
import { el } from './dom.js';
import { SEARCH_MATCH_COLOR } from './flame-style.js';
import { startIncidentView } from './incident-view.js';
import { loadSamples } from './load-samples.js';
import { findPageElements, readPageFacts, type PageElements } from './page-facts.js';
import { buildModel } from './samples-model.js';

function showFailure(elements: PageElements, error: unknown): void {
  const reason = error instanceof Error ? error.message : String(error);
  elements.heatmap?.replaceChildren(el('p', { class: 'heatmap-error', role: 'alert' }, `Could not load the incident's samples (${reason}); the heatmap is not available.`));
  elements.flamegraph?.append(el('p', { class: 'flame-error', role: 'alert' }, `Interactive flamegraph unavailable (${reason}): above is the still image of the whole window.`));
}

const page = readPageFacts(document);
if (page) {
  const elements = findPageElements(document);
  // incident.css paints search matches in this; the server's flamegraphs use the same.
  document.documentElement.style.setProperty('--t2i-match', SEARCH_MATCH_COLOR);
  setUpCopyLink(elements.copyLink);
  elements.heatmap?.replaceChildren(el('p', { class: 'heatmap-loading' }, 'Loading samples…'));
  loadSamples(page.samplesUrl)
    .then((stored) => startIncidentView(buildModel(stored, page), page, elements))
    .catch((error: unknown) => showFailure(elements, error));
}
