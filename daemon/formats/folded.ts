/**
 * Brendan Gregg's collapsed-stack ("folded") format: one line per unique path,
 * `comm;outer;…;leaf count`. It is what flamegraph.pl, inferno and most diff tools read, so it
 * is also the format tail2 compares two profiles in.
 */
import { weightPerStack, type Frame, type SymbolizedProfile } from '../profile/symbolized-profile.js';
import { Tail2Error } from '../model/tail2-error.js';

/** Thrown by {@link parseFolded} for a line that is not `path count`. */
export class FoldedParseError extends Tail2Error<'TAIL2_FOLDED_PARSE'> {
  override name = 'FoldedParseError';

  /**
   * @param line - 1-based number of the offending line.
   * @param detail - what is wrong with it.
   */
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super('TAIL2_FOLDED_PARSE', `folded stacks, line ${line}: ${detail}; each line must be "frame;frame;…;frame COUNT"`);
  }
}

/**
 * Renders a profile as collapsed stacks, one line per unique (comm, frame names) path, sorted
 * lexicographically (by UTF-16 code unit) so the same profile always gives the same bytes.
 *
 * The first element of each path is the thread's `comm`, then frames root to leaf. Frames carry
 * the flamegraph.pl suffixes: `_[i]` inlined, `_[k]` kernel, `_[j]` JIT. Paths that become equal
 * after naming (different stacks whose frames share names) are merged and their counts summed.
 * Stacks without samples are left out; an empty profile renders as the empty string.
 *
 * The count is each path's weight in the profile kind's unit (samples for CPU, bytes for page
 * faults …), rounded to a whole number as the format requires.
 *
 * @returns Lines of `comm;outer;…;leaf count`, each ending in `\n`.
 */
export function renderFolded(profile: SymbolizedProfile): string {
  const counts = weightPerStack(profile);
  const frameNames = profile.frames.map(foldedFrameName);
  const totals = new Map<string, number>();
  profile.stacks.forEach((stack, stackIndex) => {
    const count = counts[stackIndex] ?? 0;
    if (count === 0) return;
    const parts = [sanitize(stack.comm) || '[unknown]'];
    for (const frameIndex of stack.frames) parts.push(frameNames[frameIndex] ?? '[unknown]');
    const path = parts.join(';');
    totals.set(path, (totals.get(path) ?? 0) + count);
  });
  // Default sort compares code units, not locale rules: output must not depend on the host's locale.
  const paths = [...totals.keys()].sort();
  let out = '';
  for (const path of paths) out += `${path} ${Math.round(totals.get(path) ?? 0)}\n`;
  return out;
}

/**
 * Parses collapsed stacks back into path → count. Blank lines are skipped, `\r\n` endings are
 * accepted, and a path that occurs on several lines gets the sum of its counts (as flamegraph.pl
 * does). Counts may be fractional, as differential tools write them.
 *
 * @throws {@link FoldedParseError} naming the first malformed line.
 */
export function parseFolded(text: string): Map<string, number> {
  const result = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') continue;
    const lineNumber = i + 1;
    // Frame names may contain spaces ("operator new", "[unknown] (deleted)"); the count is after the last one.
    const separator = line.lastIndexOf(' ');
    if (separator < 0) throw new FoldedParseError(lineNumber, `no count after the path in "${clip(line)}"`);
    const path = line.slice(0, separator);
    const countText = line.slice(separator + 1);
    if (!/^\d+(\.\d+)?$/.test(countText)) {
      throw new FoldedParseError(lineNumber, `count "${clip(countText)}" is not a non-negative number`);
    }
    if (path.trim() === '') throw new FoldedParseError(lineNumber, 'the path before the count is empty');
    result.set(path, (result.get(path) ?? 0) + Number(countText));
  }
  return result;
}

function foldedFrameName(frame: Frame): string {
  const name = sanitize(frame.name) || '[unknown]';
  // An inlined kernel or JIT frame is marked inlined: the inlining is the fact a reader of the
  // flamegraph cannot otherwise see, the kernel/JIT origin is visible from its inlining parent.
  if (frame.inlined) return `${name}_[i]`;
  if (frame.kind === 'kernel') return `${name}_[k]`;
  if (frame.kind === 'jit') return `${name}_[j]`;
  return name;
}

/** `;` separates frames and `\n` lines, so neither may appear inside a name. */
function sanitize(name: string): string {
  return name.replace(/;/g, ':').replace(/\r\n|[\r\n]/g, ' ');
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
