/**
 * Samples as columns: 16 bytes each (time 8, stack id 4, thread id 4), growing by doubling. The
 * daemon's rolling buffer bounds these by time and bytes; `tail2 record` keeps them all.
 */
import type { SampleSource } from './sample-source.js';

export class SampleColumns implements SampleSource {
  timeNs = new Float64Array(1024);
  stack = new Uint32Array(1024);
  tid = new Uint32Array(1024);
  length = 0;

  append(timeNs: number, stackId: number, tid: number): void {
    if (this.length === this.timeNs.length) this.grow();
    this.timeNs[this.length] = timeNs;
    this.stack[this.length] = stackId;
    this.tid[this.length] = tid;
    this.length++;
  }

  forEachSample(fromNs: number, toNs: number, visit: (timeNs: number, stackId: number, tid: number) => void): void {
    for (let i = 0; i < this.length; i++) {
      const time = this.timeNs[i];
      if (time >= fromNs && time < toNs) visit(time, this.stack[i], this.tid[i]);
    }
  }

  get bytes(): number {
    return this.timeNs.byteLength + this.stack.byteLength + this.tid.byteLength;
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
  }
}
