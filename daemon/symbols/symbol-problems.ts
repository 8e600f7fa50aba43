/** One file tail2 could not (or would not) read for symbols, as `tail2 status` lists it. */
export interface SymbolProblem {
  /** ISO time it happened (last time, when it repeated). */
  at: string;
  /** The file as the profiled process named it: untrusted text, escaped wherever it is shown. */
  file: string;
  /** The reader's code: ETIMEDOUT, ECRASHED, ENOTREG, EMISMATCH, ENOTOWNER, ETOOBIG, EBADELF, … */
  code: string;
  message: string;
}

export interface SymbolProblemsView {
  /** How often each code happened since the daemon started. */
  counts: Record<string, number>;
  /** The latest problems, newest first; a file is listed once, with its latest one. */
  recent: SymbolProblem[];
}

/**
 * Codes that only say a file is no longer there to read (the process exited, the file was
 * deleted): counted, but not listed as problems a person should look at.
 */
const ORDINARY = new Set(['ENOENT', 'EGONE', 'ENOTDIR']);
const MAX_RECENT = 20;
/** Longer file names (and messages) are cut: they are shown, and a process chooses them. */
const MAX_TEXT = 300;

/**
 * What symbolization had to give up on, for `tail2 status` and /status: a hostile or broken file
 * (a FIFO for a perf map, a symlink to another file, DWARF that overran its time budget) shows up
 * here with what was done about it, while its frames show as `[module+0xoffset]`.
 */
export class SymbolProblems {
  private readonly counts = new Map<string, number>();
  private readonly recent: SymbolProblem[] = [];

  record(file: string, code: string, message: string, nowMs = Date.now()): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    if (ORDINARY.has(code)) return;
    const shown = file.slice(0, MAX_TEXT);
    const existing = this.recent.findIndex((p) => p.file === shown);
    if (existing >= 0) this.recent.splice(existing, 1);
    this.recent.unshift({ at: new Date(nowMs).toISOString(), file: shown, code, message: message.slice(0, MAX_TEXT) });
    if (this.recent.length > MAX_RECENT) this.recent.pop();
  }

  view(): SymbolProblemsView {
    return { counts: Object.fromEntries(this.counts), recent: this.recent.map((p) => ({ ...p })) };
  }
}
