/**
 * Thread names (comm), interned. The sampler's record carries the 16-byte comm of every sample;
 * comparing its four words with the thread's last known comm avoids decoding a string per sample.
 */
export class CommTable {
  private readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  private readonly byThread = new Map<number, { words: [number, number, number, number]; id: number }>();

  get size(): number {
    return this.names.length;
  }

  name(id: number): string {
    return this.names[id];
  }

  /** The comm id for thread `tid` whose record holds comm words w0…w3; `decode` is called only on change. */
  lookup(tid: number, w0: number, w1: number, w2: number, w3: number, decode: () => string): number {
    const known = this.byThread.get(tid);
    if (known !== undefined && known.words[0] === w0 && known.words[1] === w1 && known.words[2] === w2 && known.words[3] === w3) {
      return known.id;
    }
    const name = decode();
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    this.byThread.set(tid, { words: [w0, w1, w2, w3], id });
    return id;
  }
}
