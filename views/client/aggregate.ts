/**
 * Samples per tree node for one process (or all) and one time range: what a flamegraph of that
 * cut draws, in the profile's unit (each sample counts its weight: bytes for page faults). A few
 * of these are kept, so toggling views or zooming reuses them.
 */
import { lowerBound, type Model } from './samples-model.js';

/** Counts of one cut of the samples. */
export interface Aggregate {
  /** Weight per tree node (node 0: all of it). */
  nodeCount: Float64Array;
  /** Weight per stack; 0 for stacks of other processes. */
  stackCount: Float64Array;
  total: number;
}

/** How many cuts are kept. */
const KEPT = 8;

/** Computes and keeps the cuts of one model. */
export class Aggregates {
  private readonly kept = new Map<string, Aggregate>();

  constructor(private readonly m: Model) {}

  /** Samples of process `pid` (null: all) in [t0, t1), ms since the window start (±Infinity for open ends). */
  get(pid: number | null, t0: number, t1: number): Aggregate {
    const key = `${pid}|${t0}|${t1}`;
    const known = this.kept.get(key);
    if (known) return known;
    const m = this.m;
    const stackCount = new Float64Array(m.pathStart.length - 1);
    const weight = m.sampleWeight;
    if (m.sorted) {
      for (let i = lowerBound(m.sampleT, t0), end = lowerBound(m.sampleT, t1); i < end; i++) stackCount[m.sampleStack[i]] += weight ? weight[i] : 1;
    } else {
      for (let i = 0; i < m.sampleT.length; i++) if (m.sampleT[i] >= t0 && m.sampleT[i] < t1) stackCount[m.sampleStack[i]] += weight ? weight[i] : 1;
    }
    const nodeCount = new Float64Array(m.nodeParent.length);
    let total = 0;
    for (let s = 0; s < stackCount.length; s++) {
      const count = stackCount[s];
      if (count === 0) continue;
      if (pid !== null && m.stackPid[s] !== pid) {
        stackCount[s] = 0;
        continue;
      }
      total += count;
      for (let k = m.pathStart[s]; k < m.pathStart[s + 1]; k++) nodeCount[m.pathNodes[k]] += count;
    }
    nodeCount[0] = total;
    const result = { nodeCount, stackCount, total };
    const oldest = this.kept.keys().next();
    if (this.kept.size >= KEPT && !oldest.done) this.kept.delete(oldest.value);
    this.kept.set(key, result);
    return result;
  }
}
