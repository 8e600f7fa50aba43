import { frame, frames, repeated, type Chain } from './stack-chain.js';

/**
 * A program of test/fixtures/programs built to exercise one thing a user-stack unwinder must get
 * right, with the call chains its samples must carry. The acceptance test (test/unwind/) and the
 * benchmark (bench/unwind-bench.ts) read these, so the expectation lives in one place.
 */
export interface UnwindFixture {
  /** test/fixtures/programs/`name`.c, and the binaries' base name. */
  name: string;
  /** What of the unwinder it exercises. */
  exercises: string;
  /** A shared library (test/fixtures/programs/`library`.c) built with the same flags, passed as argv[2]. */
  library?: string;
  /**
   * The accepted user chains, root first, from `main` to the sampled frame (see harness/stack-chain.ts).
   * A sample carries its full chain when its user frames from `main` on are exactly one of them.
   */
  chains: readonly Chain[];
  /** A chain (index into `chains`) at least `minShare` of the samples must match: what the fixture is for. */
  required?: { chain: number; minShare: number; what: string };
  /**
   * Something to do once the profilers sample the process: send `signal` after `afterMs`, then
   * wait until the fixture prints `then` (the dlopen fixture loads its library only now).
   */
  trigger?: { signal: NodeJS.Signals; afterMs: number; then: string };
}

/**
 * glibc's qsort path to the comparator (msort in glibc 2.36: qsort_r, then msort_with_tmp per
 * level; with libc6-dbg's DWARF, msort_with_tmp inlined into its `.part` clone shows as a frame of
 * its own, `_[i]`).
 */
const GLIBC_QSORT = /^(qsort|qsort_r|__qsort_r|__GI___qsort_r|msort_with_tmp|msort_with_tmp\.part\.\d+|_quicksort)(_\[i\])?$/;
/** glibc's string copies, which msort_with_tmp calls. */
const GLIBC_COPY = /^__(memmove|memcpy|mempcpy)\w*$/;
/** glibc's clock_gettime wrapper, which calls the vDSO. */
const GLIBC_CLOCK_GETTIME = /^(clock_gettime|__clock_gettime|__clock_gettime64)$/;
/**
 * glibc's rt_sigreturn trampoline, the return address of a signal handler. It is the first byte of
 * __restore_rt, and symbolizers look return addresses up one byte back (at the call), which here
 * is the padding before it: perf shows [unknown], tail2 today [libc.so.6+0x…]. Either is this
 * frame; the position in the chain (between the interrupted function and the handler) pins it.
 */
const SIGRETURN_TRAMPOLINE = /^(__restore_rt|\[unknown\]|\[libc\.so\.6\+0x[0-9a-f]+\])$/;
/** Frames in the vDSO: tail2 names the mapping ([vdso]) or the vDSO's own symbols, perf the symbols. */
const VDSO = /^(\[vdso\]|__vdso_clock_gettime|__vdso_gettimeofday|do_hres|vread_tsc|vdso_read_.*)$/;

/** The fixtures, each built twice (harness/fixture-programs.ts, OPTIMIZED_BUILDS). */
export const UNWIND_FIXTURES: readonly UnwindFixture[] = [
  {
    name: 'deep-chain',
    exercises: 'a chain of seven frames ending in a frameless leaf that spins',
    chains: [[frame('main'), frame('chain_1'), frame('chain_2'), frame('chain_3'), frame('chain_4'), frame('chain_5'), frame('chain_leaf')]],
  },
  {
    name: 'qsort-callback',
    exercises: "a comparator called back through glibc's qsort (Debian's libc: no frame pointers)",
    chains: [
      [frame('main'), frame('sort_forever'), frames(GLIBC_QSORT, 1, 32), frame('compare_slowly')],
      // The few samples in glibc's own merging (and the memcpy it calls) carry the same chain.
      [frame('main'), frame('sort_forever'), frames(GLIBC_QSORT, 1, 32), frames(GLIBC_COPY, 0, 1)],
    ],
    required: { chain: 0, minShare: 0.9, what: 'samples in the comparator, under glibc' },
  },
  {
    name: 'recursion',
    exercises: 'a 200-deep recursion spinning at the bottom (205 user frames with the C start-up)',
    chains: [[frame('main'), repeated('recurse', 200), frame('spin_at_bottom')]],
  },
  {
    name: 'signal-spin',
    exercises: 'a signal handler that spins: the chain crosses the rt_sigreturn trampoline into the interrupted code',
    chains: [[frame('main'), frame('interrupted_loop'), frames(SIGRETURN_TRAMPOLINE, 1, 1), frame('on_alarm'), frame('spin_in_handler')]],
  },
  {
    name: 'vdso-clock',
    exercises: 'a clock_gettime loop: samples in the vDSO',
    chains: [
      [frame('main'), frame('read_clock_forever')],
      // Also a sample in the fixture's PLT stub on the way to libc: `clock_gettime@plt`, as perf
      // and objdump name it (unversioned reads the `@plt` off like a symbol version).
      [frame('main'), frame('read_clock_forever'), frames(GLIBC_CLOCK_GETTIME, 1, 1)],
      [frame('main'), frame('read_clock_forever'), frames(GLIBC_CLOCK_GETTIME, 1, 1), frames(VDSO, 1, 3)],
    ],
    required: { chain: 2, minShare: 0.2, what: 'samples in the vDSO' },
  },
  {
    name: 'dlopen-host',
    library: 'dlopen-plugin',
    exercises: 'a function in a library dlopened after the profiler met the process',
    chains: [
      [frame('main'), frame('wait_for_go')],
      [frame('main'), frame('run_plugin'), frame('plugin_entry'), frame('plugin_work'), frame('plugin_spin')],
    ],
    required: { chain: 1, minShare: 0.3, what: 'samples in the dlopened library' },
    trigger: { signal: 'SIGUSR1', afterMs: 1000, then: 'loaded' },
  },
];

/**
 * The outermost frame of a completely unwound thread, as `perf record --call-graph dwarf` shows
 * Debian's programs: `_start` under main threads (`_start;__libc_start_main;__libc_start_call_main;
 * main`), glibc's `clone3` (or `clone`) under every other thread (`clone3;start_thread;…`). Both
 * have CFI that ends the walk (the return address is undefined), so an unwinder that follows the
 * tables stops exactly there. A walk that stops at `__libc_start_call_main` (where a frame-pointer
 * walk meets glibc's zeroed %rbp) has not reached the root. A stripped program whose `_start` is
 * not in its dynamic symbols (xz) cannot be told from an unnamed frame; its main thread mostly
 * sleeps, so it is not sampled.
 */
export const THREAD_ROOT = /^(_start|clone3|__clone3|clone|__clone)$/;
