import type { CommTable } from './comm-table.js';
import type { ProcessTable } from './process-table.js';
import type { StackTable } from './stack-table.js';

/** The interned tables samples refer to. */
export interface StackTables {
  processes: ProcessTable;
  comms: CommTable;
  stacks: StackTable;
  /** Resolves once every process snapshot asked for so far has arrived (or failed). */
  snapshotsSettled(): Promise<void>;
}

/** Samples that can be walked by time: a recording's columns, or the daemon's rolling buffer. */
export interface SampleSource {
  /**
   * Calls `visit` for each sample with `fromNs <= time < toNs` (monotonic ns), in the order the
   * samples arrived (which is time order, give or take the interleaving of CPUs), with its weight
   * in its kind's unit (1 for a CPU sample).
   */
  forEachSample(fromNs: number, toNs: number, visit: (timeNs: number, stackId: number, tid: number, weight: number) => void): void;
}
