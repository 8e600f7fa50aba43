/**
 * Expected call chains and how a sampled stack is checked against them. One convention throughout:
 * frames are listed ROOT FIRST (outermost caller first, the sampled function last), as folded
 * stacks list them, and named as folded stacks name them (`_[k]` kernel, `_[j]` JIT, `_[i]`
 * inlined; a frame in the vDSO may be `[vdso]`).
 */

/** One step of a chain: `min`…`max` consecutive frames whose names match `frame`. */
export interface ChainStep {
  frame: RegExp;
  min: number;
  max: number;
}

/** A chain: consecutive steps from the chain's first frame to the sampled (innermost) user frame. */
export type Chain = readonly ChainStep[];

/** A step matching exactly one frame named `name` (a plain string, matched whole). */
export function frame(name: string): ChainStep {
  return { frame: new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), min: 1, max: 1 };
}

/** A step matching `min`…`max` consecutive frames whose names match `pattern`. */
export function frames(pattern: RegExp, min: number, max: number): ChainStep {
  return { frame: pattern, min, max };
}

/** A step matching exactly `count` consecutive frames named `name`. */
export function repeated(name: string, count: number): ChainStep {
  return { ...frame(name), min: count, max: count };
}

/** Kernel frames (folded suffix `_[k]`) and the marker of an unreadable kernel stack. */
export function isKernelFrame(name: string): boolean {
  return name.endsWith('_[k]') || name === '[kernel stack not readable]';
}

/**
 * A frame's name without the symbol version a dynamic symbol may carry (`clock_gettime@@GLIBC_2.17`
 * is `clock_gettime`): symbolizers differ in whether they keep it, chains never name it.
 */
export function unversioned(name: string): string {
  return name.replace(/@@?[A-Za-z_][\w.]*$/, '');
}

/** The user part of a root-first stack, names {@link unversioned}: kernel frames (always on top, innermost) dropped. */
export function userFrames(rootFirst: readonly string[]): string[] {
  let end = rootFirst.length;
  while (end > 0 && isKernelFrame(rootFirst[end - 1])) end--;
  return rootFirst.slice(0, end).map(unversioned);
}

/**
 * Whether the user frames of `rootFirst`, from the outermost frame named `anchor` (`main`) to the
 * innermost user frame, are exactly `chain` (every step matched, nothing left over). A stack
 * without `anchor` never matches: it did not unwind that far.
 */
export function matchesChain(rootFirst: readonly string[], chain: Chain, anchor = 'main'): boolean {
  const user = userFrames(rootFirst);
  const start = user.indexOf(anchor);
  if (start < 0) return false;
  return matchFrom(user, start, chain);
}

/** Dynamic programming over (step, frame): reachable[i] = the first i frames are matched so far. */
function matchFrom(user: readonly string[], start: number, chain: Chain): boolean {
  const length = user.length - start;
  let reachable = new Array<boolean>(length + 1).fill(false);
  reachable[0] = true;
  for (const step of chain) {
    const next = new Array<boolean>(length + 1).fill(false);
    for (let i = 0; i <= length; i++) {
      if (!reachable[i]) continue;
      if (step.min === 0) next[i] = true;
      for (let n = 1; n <= step.max && i + n <= length; n++) {
        if (!step.frame.test(user[start + i + n - 1])) break;
        if (n >= step.min) next[i + n] = true;
      }
    }
    reachable = next;
  }
  return reachable[length];
}

/** Renders a chain for messages: `main;chain_1;…`, repeats as `name×200`. */
export function describeChain(chain: Chain): string {
  return chain
    .map((step) => {
      const name = step.frame.source.replace(/^\^|\$$/g, '').replace(/\\(.)/g, '$1');
      if (step.min === 1 && step.max === 1) return name;
      return step.min === step.max ? `${name}×${step.min}` : `(${name}){${step.min},${step.max}}`;
    })
    .join(';');
}
