/**
 * What the server tells the incident page's script: the data attributes of `#incident-data`
 * (views/incident.ejs), and the elements the script draws into.
 */

/** The incident, as `#incident-data` describes it. Times are ms since the epoch, NaN when absent. */
export interface PageFacts {
  /** Where samples.json.gz is. */
  samplesUrl: string;
  firedAtMs: number;
  /** When the rule's condition began to hold; NaN for a manual capture. */
  heldSinceMs: number;
  windowFromMs: number;
  windowToMs: number;
  /** The process the rule watched, or null. */
  pid: number | null;
  /** Its name (comm), or ''. */
  comm: string;
}

/** The page's elements the script fills in; each null when the page lacks it. */
export interface PageElements {
  heatmap: HTMLElement | null;
  selection: HTMLElement | null;
  toolbar: HTMLElement | null;
  flamegraph: HTMLElement | null;
  copyLink: HTMLButtonElement | null;
}

const parseTime = (text: string | undefined): number => (text ? Date.parse(text) : NaN);
const parsePid = (text: string | undefined): number | null => (text && /^\d+$/.test(text) ? Number(text) : null);

/** The facts of `#incident-data`, or null when this is not an incident page. */
export function readPageFacts(doc: Document): PageFacts | null {
  const data = doc.getElementById('incident-data');
  if (!data) return null;
  return {
    samplesUrl: data.dataset.samplesUrl || '',
    firedAtMs: parseTime(data.dataset.firedAt),
    heldSinceMs: parseTime(data.dataset.heldSince),
    windowFromMs: parseTime(data.dataset.windowFrom),
    windowToMs: parseTime(data.dataset.windowTo),
    pid: parsePid(data.dataset.pid),
    comm: data.dataset.comm || '',
  };
}

/** The elements the script draws into. */
export function findPageElements(doc: Document): PageElements {
  const copyLink = doc.getElementById('copy-link');
  return {
    heatmap: doc.getElementById('heatmap'),
    selection: doc.getElementById('heatmap-selection'),
    toolbar: doc.getElementById('flamegraph-toolbar'),
    flamegraph: doc.getElementById('flamegraph'),
    copyLink: copyLink instanceof HTMLButtonElement ? copyLink : null,
  };
}
