import { matchesChain, userFrames, type Chain } from './stack-chain.js';
import { THREAD_ROOT, type UnwindFixture } from './unwind-fixtures.js';

/** A distinct sampled stack, root first (harness/stack-chain.ts names), and how many samples had it. */
export interface CountedStack {
  frames: string[];
  count: number;
  /** The thread's name, where the source says. */
  comm?: string;
}

/** Folded stacks (`comm;root;…;leaf count`, as tail2 writes them) as counted stacks, comm split off. */
export function stacksFromFolded(folded: Map<string, number>): CountedStack[] {
  return [...folded].map(([path, count]) => {
    const [comm, ...frames] = path.split(';');
    return { comm, frames, count };
  });
}

/** How a fixture's samples match its expected chains. */
export interface ChainReport {
  samples: number;
  /** Samples whose user frames from `main` are exactly one of the fixture's chains. */
  matched: number;
  /** Samples matching `fixture.required`'s chain (0 when it has none). */
  required: number;
  /** The commonest stacks that matched no chain, for messages. */
  worstUnmatched: CountedStack[];
}

/** Checks every sample of one fixture against its chains. */
export function chainReport(stacks: readonly CountedStack[], fixture: UnwindFixture): ChainReport {
  let samples = 0;
  let matched = 0;
  let required = 0;
  const unmatched: CountedStack[] = [];
  const requiredChain: Chain | undefined = fixture.required ? fixture.chains[fixture.required.chain] : undefined;
  for (const stack of stacks) {
    samples += stack.count;
    if (fixture.chains.some((chain) => matchesChain(stack.frames, chain))) matched += stack.count;
    else unmatched.push(stack);
    if (requiredChain && matchesChain(stack.frames, requiredChain)) required += stack.count;
  }
  unmatched.sort((a, b) => b.count - a.count);
  return { samples, matched, required, worstUnmatched: unmatched.slice(0, 5) };
}

/** Reach-root share and mean user depth of a set of samples. */
export interface RootReport {
  samples: number;
  /** Samples whose outermost user frame is a thread root ({@link THREAD_ROOT}). */
  reachedRoot: number;
  /** Mean number of user frames per sample (kernel frames not counted). */
  meanUserDepth: number;
  /** The commonest stacks that did not reach a root, for messages. */
  worstUnrooted: CountedStack[];
}

/**
 * Reach-root share and depth over the samples that have user frames: a sample taken while the
 * thread ran in the kernel with no user stack to walk (a kernel worker) says nothing about user
 * unwinding.
 */
export function rootReport(stacks: readonly CountedStack[]): RootReport {
  let samples = 0;
  let reachedRoot = 0;
  let depth = 0;
  const unrooted: CountedStack[] = [];
  for (const stack of stacks) {
    const user = userFrames(stack.frames);
    if (user.length === 0) continue;
    samples += stack.count;
    depth += user.length * stack.count;
    if (THREAD_ROOT.test(user[0])) reachedRoot += stack.count;
    else unrooted.push(stack);
  }
  unrooted.sort((a, b) => b.count - a.count);
  return { samples, reachedRoot, meanUserDepth: samples ? depth / samples : 0, worstUnrooted: unrooted.slice(0, 5) };
}

/** Stacks for a message: `count  frame;frame;…`, long ones cut in the middle. */
export function describeStacks(stacks: readonly CountedStack[]): string {
  return stacks
    .map((stack) => {
      const frames = stack.frames.length > 16 ? [...stack.frames.slice(0, 6), `…${stack.frames.length - 12} more…`, ...stack.frames.slice(-6)] : stack.frames;
      return `  ${String(stack.count).padStart(5)}  ${frames.join(';')}`;
    })
    .join('\n');
}
