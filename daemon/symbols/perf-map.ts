import { readFileSync } from 'node:fs';

/**
 * A JIT's symbol file, /tmp/perf-PID.map ("START SIZE name" in hex per line), written by
 * `node --perf-basic-prof`, Java's perf-map-agent and others. Later lines win for the same range,
 * since a JIT may reuse memory.
 */
export class PerfMap {
  private constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly names: string[],
  ) {}

  static read(path: string): PerfMap | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
    const entries: Array<{ start: number; end: number; name: string; order: number }> = [];
    let order = 0;
    for (const line of text.split('\n')) {
      const match = /^([0-9a-fA-Fx]+) ([0-9a-fA-Fx]+) (.*)$/.exec(line);
      if (!match) continue;
      const start = parseInt(match[1], 16);
      const size = parseInt(match[2], 16);
      if (!Number.isFinite(start) || !Number.isFinite(size)) continue;
      entries.push({ start, end: start + size, name: match[3], order: order++ });
    }
    entries.sort((a, b) => a.start - b.start || a.order - b.order); // ties: newest last, found first below
    return new PerfMap(
      Float64Array.from(entries.map((e) => e.start)),
      Float64Array.from(entries.map((e) => e.end)),
      entries.map((e) => e.name),
    );
  }

  resolve(address: number): string | undefined {
    let low = 0;
    let high = this.starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.starts[mid] <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    // Walk back over entries that start earlier but may still cover the address (overlapping code).
    for (let i = found; i >= 0 && i > found - 8; i--) {
      if (address < this.ends[i]) return this.names[i];
    }
    return undefined;
  }
}
