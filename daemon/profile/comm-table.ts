/**
 * Thread names (comm), interned. The sampler's record carries the 16-byte comm of every sample;
 * comparing its four words with the thread's last known comm avoids decoding a string per sample.
 *
 * Names are reference counted by the stacks that use them and freed when none does, so threads
 * with ever-new names (a fork storm of `worker-12345`s) cannot grow the table without bound.
 */
const MAX_REMEMBERED_THREADS = 65_536;
/** A name's entry (the string of at most 15 bytes, its slots and index), and a thread's cache entry. */
const NAME_BYTES = 96;
const THREAD_BYTES = 112;

export class CommTable {
  private readonly names: Array<string | undefined> = [];
  private readonly refs: number[] = [];
  private readonly freeIds: number[] = [];
  private readonly ids = new Map<string, number>();
  /** tid -> its last comm's words and id: a cache, cleared whenever it could point at a freed id. */
  private byThread = new Map<number, { words: [number, number, number, number]; id: number }>();

  /** Live names. */
  get size(): number {
    return this.names.length - this.freeIds.length;
  }

  /** Bytes held: the names and the per-thread cache. */
  get bytes(): number {
    return this.size * NAME_BYTES + this.byThread.size * THREAD_BYTES;
  }

  name(id: number): string {
    return this.names[id] ?? '[freed]';
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
      id = this.freeIds.pop() ?? this.names.length;
      this.names[id] = name;
      this.refs[id] = 0;
      this.ids.set(name, id);
    }
    if (this.byThread.size >= MAX_REMEMBERED_THREADS) this.byThread = new Map();
    this.byThread.set(tid, { words: [w0, w1, w2, w3], id });
    return id;
  }

  /** A stack that uses the name was created. */
  retain(id: number): void {
    this.refs[id]++;
  }

  /** A stack that used the name was freed; the name goes with its last stack. */
  release(id: number): void {
    if (--this.refs[id] > 0) return;
    const name = this.names[id];
    if (name !== undefined) this.ids.delete(name);
    this.names[id] = undefined;
    this.freeIds.push(id);
    this.byThread = new Map();
  }
}
