/**
 * How idle the host's CPUs were while samples were taken. The idle task (pid 0, `swapper/N`) is
 * left out of the profiles tail2 writes — at 3am a flamegraph whose widest box is "the CPU had
 * nothing to do" hides the culprit — and this share is stated instead (flamegraph titles,
 * summary.json, notifications). The samples themselves stay in the buffer.
 */
import { PROFILE_KINDS } from '../model/profile-kind.js';
import type { SampleSource, StackTables } from './sample-source.js';

/** The idle share of a stretch of CPU samples. */
export interface IdleShare {
  /** Share (0–1) of the sampled CPUs' time spent idle. */
  share: number;
  /** Samples of the idle task (pid 0) that arrived. */
  idleSamples: number;
  /** CPU samples of every other task. */
  busySamples: number;
}

/** Where and how the samples were taken. */
export interface IdleShareOptions {
  /** Monotonic ns, [fromNs, toNs). */
  fromNs: number;
  toNs: number;
  /** CPUs the sampler samples. */
  cpus: number;
  /** Samples per second per CPU (Hz). */
  frequency: number;
}

/**
 * The idle share of the CPU samples in [fromNs, toNs), read from the raw samples (nothing is
 * symbolized). Undefined when there are no CPU samples at all.
 *
 * A busy CPU yields `frequency` samples a second; an idle one yields idle-task samples, or fewer
 * or none when the kernel lets a tickless idle CPU sleep through its timer (docs/internals.md).
 * So the busy share is the busy samples against what every CPU would have yielded over the
 * stretch the samples cover (first to last sample, plus one period) — or against the samples
 * that arrived, when more arrived than that (timer jitter) — and the idle share is the rest.
 * A sampling frequency lowered by self-protection during the stretch makes it read more idle.
 */
export function measureIdleShare(tables: StackTables, source: SampleSource, options: IdleShareOptions): IdleShare | undefined {
  const { stacks, processes } = tables;
  const cpuRecord = PROFILE_KINDS.cpu.record;
  // What each stack is, looked up once: a window has thousands of samples and far fewer stacks.
  const NOT_CPU = 0;
  const BUSY = 1;
  const IDLE = 2;
  const verdicts = new Map<number, number>();
  let idleSamples = 0;
  let busySamples = 0;
  let first = Infinity;
  let last = -Infinity;
  source.forEachSample(options.fromNs, options.toNs, (timeNs, stackId) => {
    let verdict = verdicts.get(stackId);
    if (verdict === undefined) {
      verdict = stacks.kindOf(stackId) !== cpuRecord ? NOT_CPU : processes.get(stacks.processOf(stackId)).pid === 0 ? IDLE : BUSY;
      verdicts.set(stackId, verdict);
    }
    if (verdict === NOT_CPU) return;
    if (verdict === IDLE) idleSamples++;
    else busySamples++;
    if (timeNs < first) first = timeNs;
    if (timeNs > last) last = timeNs;
  });
  const received = idleSamples + busySamples;
  if (received === 0) return undefined;
  const periodNs = 1e9 / options.frequency;
  const expected = (Math.max(1, options.cpus) * (last - first + periodNs)) / periodNs;
  const share = 1 - busySamples / Math.max(received, expected);
  return { share: Math.min(1, Math.max(0, share)), idleSamples, busySamples };
}

/** `CPUs 45% idle`: how titles and messages state an idle share. */
export function idleText(idle: IdleShare | undefined): string | undefined {
  return idle === undefined ? undefined : `CPUs ${Math.round(idle.share * 100)}% idle`;
}
