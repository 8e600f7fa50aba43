import { describe, expect, it } from 'vitest';
import { describeChain, frame, frames, matchesChain, repeated, userFrames } from '../../harness/stack-chain.js';
import { chainReport, rootReport } from '../../harness/unwind-analysis.js';
import { UNWIND_FIXTURES } from '../../harness/unwind-fixtures.js';

// The checker the unwinding acceptance test trusts: a chain matches exactly the stacks it names,
// and a stack missing or adding one frame does not match.
const start = ['_start', '__libc_start_main@@GLIBC_2.34', '__libc_start_call_main'];
const deepChain = UNWIND_FIXTURES.find((fixture) => fixture.name === 'deep-chain')!;
const recursion = UNWIND_FIXTURES.find((fixture) => fixture.name === 'recursion')!;
const qsort = UNWIND_FIXTURES.find((fixture) => fixture.name === 'qsort-callback')!;
const signal = UNWIND_FIXTURES.find((fixture) => fixture.name === 'signal-spin')!;

describe('expected call chains', () => {
  const full = [...start, 'main', 'chain_1', 'chain_2', 'chain_3', 'chain_4', 'chain_5', 'chain_leaf'];

  it('match a complete stack, whatever lies under main and whatever kernel frames lie on top', () => {
    expect(matchesChain(full, deepChain.chains[0])).toBe(true);
    expect(matchesChain(full.slice(2), deepChain.chains[0])).toBe(true);
    expect(matchesChain([...full, 'asm_sysvec_apic_timer_interrupt_[k]', 'irqentry_exit_to_user_mode_[k]'], deepChain.chains[0])).toBe(true);
  });

  it('refuse a stack missing a frame (a frame-pointer walk from a frameless leaf), an extra frame, or main', () => {
    expect(matchesChain(full.filter((name) => name !== 'chain_5'), deepChain.chains[0])).toBe(false);
    expect(matchesChain([...full.slice(0, -1), 'chain_5', 'chain_leaf'], deepChain.chains[0])).toBe(false);
    expect(matchesChain(['chain_leaf'], deepChain.chains[0])).toBe(false);
    expect(matchesChain(full.filter((name) => name !== 'main'), deepChain.chains[0])).toBe(false);
  });

  it('count repeated frames exactly: 200 recursions, not 127 or 199', () => {
    const deep = (levels: number) => [...start, 'main', ...Array<string>(levels).fill('recurse'), 'spin_at_bottom'];
    expect(matchesChain(deep(200), recursion.chains[0])).toBe(true);
    expect(matchesChain(deep(199), recursion.chains[0])).toBe(false);
    expect(matchesChain(deep(201), recursion.chains[0])).toBe(false);
    // The kernel's 127-frame callchain cut: no main.
    expect(matchesChain(deep(200).slice(-127), recursion.chains[0])).toBe(false);
  });

  it('take glibc frames by any of their names, with or without a symbol version', () => {
    const sorted = ['main', 'sort_forever', '__GI___qsort_r', 'msort_with_tmp.part.0', 'msort_with_tmp.part.0', 'compare_slowly'];
    expect(matchesChain(sorted, qsort.chains[0])).toBe(true);
    expect(matchesChain(['main', 'sort_forever', 'qsort_r@@GLIBC_2.8', 'msort_with_tmp.part.0', 'compare_slowly'], qsort.chains[0])).toBe(true);
    // Skipping glibc entirely is what a frame-pointer walk through Debian's libc does: no match.
    expect(matchesChain(['main', 'sort_forever', 'compare_slowly'], qsort.chains[0])).toBe(false);
    expect(userFrames(['clock_gettime@@GLIBC_2.17', 'x_[k]'])).toEqual(['clock_gettime']);
  });

  it('pin the sigreturn trampoline by its place between the interrupted code and the handler', () => {
    const handled = (trampoline: string) => [...start, 'main', 'interrupted_loop', trampoline, 'on_alarm', 'spin_in_handler'];
    expect(matchesChain(handled('__restore_rt'), signal.chains[0])).toBe(true);
    expect(matchesChain(handled('[libc.so.6+0x3c04f]'), signal.chains[0])).toBe(true);
    expect(matchesChain([...start, 'main', '[libc.so.6+0x3c04f]', 'spin_in_handler'], signal.chains[0])).toBe(false);
  });

  it('reports matched shares, required shares and the commonest misses', () => {
    const report = chainReport(
      [
        { frames: full, count: 97 },
        { frames: ['chain_leaf'], count: 3 },
      ],
      deepChain,
    );
    expect(report).toMatchObject({ samples: 100, matched: 97 });
    expect(report.worstUnmatched[0].frames).toEqual(['chain_leaf']);
    expect(describeChain(recursion.chains[0])).toBe('main;recurse×200;spin_at_bottom');
    expect(describeChain([frame('a'), frames(/^b$/, 0, 2), repeated('c', 3)])).toBe('a;(b){0,2};c×3');
  });

  it('count a stack as rooted only when its outermost user frame is _start or clone3', () => {
    const report = rootReport([
      { frames: [...start, 'main', 'work'], count: 6 },
      { frames: ['clone3', 'start_thread', '[unknown]', 'work', 'do_syscall_64_[k]'], count: 3 },
      { frames: ['__libc_start_call_main', 'main', 'work'], count: 1 },
      { frames: ['[kernel stack not readable]'], count: 5 },
    ]);
    expect(report).toMatchObject({ samples: 10, reachedRoot: 9 });
    expect(report.meanUserDepth).toBeCloseTo((6 * 5 + 3 * 4 + 1 * 3) / 10);
  });
});
