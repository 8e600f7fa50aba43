import { renderFlamegraphPng } from '../daemon/formats/flamegraph-png.js';
import { renderFlamegraphSvg } from '../daemon/formats/flamegraph-svg.js';
import type { Frame, FrameKind, SymbolizedProfile } from '../daemon/profile/symbolized-profile.js';

/** Render times of one profile size. */
export interface RenderBenchRow {
  uniqueStacks: number;
  samples: number;
  /** Median of the runs, in seconds. */
  svgSeconds: number;
  pngSeconds: number;
  svgBytes: number;
  pngBytes: number;
}

export interface RenderBenchResult {
  runs: number;
  rows: RenderBenchRow[];
  /** Targets at 50,000 unique stacks, in seconds. */
  targets: { svgSeconds: number; pngSeconds: number };
}

const SIZES = [1_000, 10_000, 50_000];
const RUNS = 3;
const PROCESSES = 40;
const DEPTH = 20;

/**
 * SVG and PNG flamegraph render time for 1k, 10k and 50k unique stacks ~20 frames deep, with
 * names shaped like real ones (C++ templates, kernel entry paths, JIT frames) and a skewed sample
 * distribution. Each figure is the median of three runs after one warm-up render (JIT, fonts).
 */
export function runRenderBench(): RenderBenchResult {
  const rows = SIZES.map((uniqueStacks) => {
    const profile = syntheticProfile(uniqueStacks);
    const title = `bench · ${uniqueStacks.toLocaleString('en-US')} unique stacks`;
    let svgBytes = 0;
    let pngBytes = 0;
    const svgSeconds = median(RUNS, () => (svgBytes = renderFlamegraphSvg(profile, { title }).length));
    const pngSeconds = median(RUNS, () => (pngBytes = renderFlamegraphPng(profile, { title }).length));
    return { uniqueStacks, samples: profile.samples.stack.length, svgSeconds, pngSeconds, svgBytes, pngBytes };
  });
  return { runs: RUNS, rows, targets: { svgSeconds: 0.5, pngSeconds: 2 } };
}

/** Median wall time of `runs` calls, in seconds, after one untimed call. */
function median(runs: number, work: () => void): number {
  work();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Under --expose-gc (npm run bench), start each run without the previous run's garbage.
    (globalThis as { gc?: () => void }).gc?.();
    const started = process.hrtime.bigint();
    work();
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * A profile of `uniqueStacks` stacks. Shallow frames are shared by many stacks and deeper ones
 * by fewer, as in real call trees, so the flamegraph has wide bases and a long tail of narrow
 * towers; a third of the stacks end in the kernel.
 */
export function syntheticProfile(uniqueStacks: number): SymbolizedProfile {
  let seed = 0x2545f491;
  const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const frames: Frame[] = [];
  const frameIndex = new Map<string, number>();
  const intern = (name: string, kind: FrameKind, module: string): number => {
    const key = `${kind}\0${name}`;
    let index = frameIndex.get(key);
    if (index === undefined) {
      index = frames.length;
      frameIndex.set(key, index);
      frames.push({ name, kind, module, address: BigInt(0x400000 + index * 64) });
    }
    return index;
  };

  const stacks: SymbolizedProfile['stacks'] = [];
  const counts: number[] = [];
  for (let i = 0; i < uniqueStacks; i++) {
    const process = i % PROCESSES;
    const jit = process % 5 === 0;
    const kernelTail = i % 3 === 0 ? 4 : 0;
    const stackFrames: number[] = [];
    for (let d = 0; d < DEPTH; d++) {
      // Which sibling this stack takes at depth d: the deeper, the more stacks differ.
      const branch = Math.floor(i / PROCESSES / Math.max(1, 2 ** (14 - d)));
      const pick = hash(process, d, branch);
      if (d >= DEPTH - kernelTail) {
        stackFrames.push(intern(KERNEL_NAMES[pick % KERNEL_NAMES.length], 'kernel', '[kernel.kallsyms]'));
      } else if (jit && d > 3) {
        stackFrames.push(intern(jitName(pick), 'jit', '[jit]'));
      } else {
        stackFrames.push(intern(nativeName(pick), 'native', `/usr/lib/x86_64-linux-gnu/lib${NAMESPACES[pick % NAMESPACES.length]}.so.1`));
      }
    }
    stacks.push({ frames: stackFrames, pid: 1000 + process, comm: `${COMMS[process % COMMS.length]}-${process}` });
    // Skewed: most stacks are seen once or twice, a few hundreds of times.
    counts.push(1 + Math.floor(random() ** 4 * 400));
  }

  const total = counts.reduce((a, b) => a + b, 0);
  const stack = new Uint32Array(total);
  const timeNs = new Float64Array(total);
  const periodNs = 1e9 / 99;
  let at = 0;
  counts.forEach((count, s) => {
    for (let k = 0; k < count; k++) stack[at++] = s;
  });
  // Interleave in time, as a real window would be, then time-stamp in order.
  for (let k = total - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [stack[k], stack[j]] = [stack[j], stack[k]];
  }
  for (let k = 0; k < total; k++) timeNs[k] = k * (periodNs / 8);
  return {
    kind: 'cpu',
    startTimeMs: Date.UTC(2026, 10, 25, 3, 0, 0),
    durationNs: total * (periodNs / 8),
    periodNs,
    frequency: 99,
    frames,
    stacks,
    samples: { stack, timeNs },
    title: 'render bench',
  };
}

function hash(a: number, b: number, c: number): number {
  let h = 0x811c9dc5;
  for (const v of [a, b, c]) {
    h ^= v;
    h = Math.imul(h, 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

const COMMS = ['postgres', 'java', 'nginx', 'node', 'redis-server', 'python3', 'envoy', 'kworker/u8:2'];
const NAMESPACES = ['storage', 'executor', 'net', 'json', 'cache', 'planner', 'tls', 'http'];
const CLASSES = ['BufferPool', 'HashJoin', 'Connection', 'Parser', 'LruCache', 'QueryPlanner', 'Session', 'RequestRouter'];
const METHODS = ['process', 'readPage', 'probe', 'handleRead', 'parseValue', 'lookup', 'estimateCost', 'dispatch', 'flush', 'run'];
const TEMPLATES = ['', '<std::string>', '<unsigned long, std::allocator<unsigned long> >', '<char const*>'];
const KERNEL_NAMES = [
  'entry_SYSCALL_64_after_hwframe', 'do_syscall_64', '__x64_sys_read', 'ksys_read', 'vfs_read', 'ext4_file_read_iter',
  'filemap_read', 'copy_user_enhanced_fast_string', '__x64_sys_futex', 'futex_wait', 'schedule', '__schedule',
  'tcp_sendmsg', 'tcp_write_xmit', 'ip_finish_output2', 'asm_exc_page_fault', 'handle_mm_fault', 'clear_page_erms',
];

function nativeName(pick: number): string {
  const ns = NAMESPACES[pick % NAMESPACES.length];
  const cls = CLASSES[(pick >>> 3) % CLASSES.length];
  const method = METHODS[(pick >>> 6) % METHODS.length];
  const template = TEMPLATES[(pick >>> 10) % TEMPLATES.length];
  return `${ns}::${cls}${template}::${method}${(pick >>> 12) % 7}(unsigned long, ${ns}::Options const&)`;
}

function jitName(pick: number): string {
  const cls = CLASSES[pick % CLASSES.length];
  const method = METHODS[(pick >>> 4) % METHODS.length];
  return `Lcom/example/${NAMESPACES[(pick >>> 8) % NAMESPACES.length]}/${cls};::${method}${(pick >>> 12) % 9}`;
}
