/**
 * Samples as columns: 16 bytes each (time 8, stack id 4, thread id 4), growing by doubling, and a
 * weight column (4 bytes more) only once a sample weighs other than 1 (every CPU sample weighs 1:
 * one period). The daemon's rolling buffer bounds these by time and bytes; `tail2 record` keeps
 * them all.
 */
import type { SampleSource } from './sample-source.js';

export class SampleColumns implements SampleSource {
  timeNs = new Float64Array(1024);
  stack = new Uint32Array(1024);
  tid = new Uint32Array(1024);
  /** Each sample's weight in its kind's unit; absent while every sample weighs 1. */
  weight: Float32Array | undefined;
  length = 0;

  append(timeNs: number, stackId: number, tid: number, weight = 1): void {
    if (this.length === this.timeNs.length) this.grow();
    this.timeNs[this.length] = timeNs;
    this.stack[this.length] = stackId;
    this.tid[this.length] = tid;
    if (weight !== 1 && !this.weight) this.weight = new Float32Array(this.timeNs.length).fill(1);
    if (this.weight) this.weight[this.length] = weight;
    this.length++;
  }

  forEachSample(fromNs: number, toNs: number, visit: (timeNs: number, stackId: number, tid: number, weight: number) => void): void {
    const weight = this.weight;
    for (let i = 0; i < this.length; i++) {
      const time = this.timeNs[i];
      if (time >= fromNs && time < toNs) visit(time, this.stack[i], this.tid[i], weight ? weight[i] : 1);
    }
  }

  get bytes(): number {
    return this.timeNs.byteLength + this.stack.byteLength + this.tid.byteLength + (this.weight?.byteLength ?? 0);
  }

  private grow(): void {
    const size = this.timeNs.length * 2;
    const time = new Float64Array(size);
    time.set(this.timeNs);
    const stack = new Uint32Array(size);
    stack.set(this.stack);
    const tid = new Uint32Array(size);
    tid.set(this.tid);
    this.timeNs = time;
    this.stack = stack;
    this.tid = tid;
    if (this.weight) {
      const weight = new Float32Array(size).fill(1);
      weight.set(this.weight);
      this.weight = weight;
    }
  }
}
