/**
 * Interns raw stacks (process, thread name, kernel and user return addresses) so each unique stack
 * is stored once and a sample is a 4-byte stack id. Everything lives in typed arrays: interning a
 * stack already seen costs a hash over its words and one comparison, and allocates nothing.
 *
 * Arena layout per stack: [processId, commId, kernelLen, userLen, kernel frames…, user frames…],
 * each frame two u32 words (low, high) of its 64-bit address, innermost first.
 */
const HEADER_WORDS = 4;
const EMPTY = -1;

export class StackTable {
  private arena = new Uint32Array(1 << 16);
  private arenaUsed = 0;
  private offsets = new Uint32Array(1 << 12);
  private hashes = new Uint32Array(1 << 12);
  private slots = new Int32Array(1 << 13).fill(EMPTY);
  private count = 0;

  /** Number of unique stacks. */
  get size(): number {
    return this.count;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.arena.byteLength + this.offsets.byteLength + this.hashes.byteLength + this.slots.byteLength;
  }

  /**
   * Returns the id of the stack made of `frameWordCount` u32 words at `words[start…]` (kernel frames
   * then user frames, two words each), adding it when new.
   */
  intern(processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number): number {
    const frameWords = (kernelLen + userLen) * 2;
    let hash = Math.imul(processId ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(commId + 1, 0xc2b2ae35) ^ (kernelLen << 16) ^ userLen;
    for (let i = start, end = start + frameWords; i < end; i++) {
      hash = Math.imul(hash ^ words[i], 0x5bd1e995);
      hash ^= hash >>> 15;
    }
    hash >>>= 0;
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot];
      if (id === EMPTY) {
        const newId = this.add(hash, processId, commId, words, start, kernelLen, userLen);
        this.slots[slot] = newId;
        if (this.count * 2 > this.slots.length) this.rehash();
        return newId;
      }
      if (this.hashes[id] === hash && this.equals(id, processId, commId, words, start, kernelLen, userLen)) return id;
    }
  }

  processOf(stackId: number): number {
    return this.arena[this.offsets[stackId]];
  }

  commOf(stackId: number): number {
    return this.arena[this.offsets[stackId] + 1];
  }

  kernelLength(stackId: number): number {
    return this.arena[this.offsets[stackId] + 2];
  }

  userLength(stackId: number): number {
    return this.arena[this.offsets[stackId] + 3];
  }

  /** Address of frame `index` (kernel frames first, innermost first) of a stack. */
  frame(stackId: number, index: number): bigint {
    const at = this.offsets[stackId] + HEADER_WORDS + index * 2;
    return (BigInt(this.arena[at + 1]) << 32n) | BigInt(this.arena[at]);
  }

  private equals(id: number, processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number): boolean {
    const at = this.offsets[id];
    const arena = this.arena;
    if (arena[at] !== processId || arena[at + 1] !== commId || arena[at + 2] !== kernelLen || arena[at + 3] !== userLen) return false;
    const frameWords = (kernelLen + userLen) * 2;
    for (let i = 0; i < frameWords; i++) if (arena[at + HEADER_WORDS + i] !== words[start + i]) return false;
    return true;
  }

  private add(hash: number, processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number): number {
    const frameWords = (kernelLen + userLen) * 2;
    const needed = this.arenaUsed + HEADER_WORDS + frameWords;
    if (needed > this.arena.length) this.arena = grow(this.arena, needed);
    const id = this.count++;
    if (id >= this.offsets.length) {
      this.offsets = grow(this.offsets, id + 1);
      this.hashes = grow(this.hashes, id + 1);
    }
    const at = this.arenaUsed;
    this.arena[at] = processId;
    this.arena[at + 1] = commId;
    this.arena[at + 2] = kernelLen;
    this.arena[at + 3] = userLen;
    this.arena.set(words.subarray(start, start + frameWords), at + HEADER_WORDS);
    this.arenaUsed = needed;
    this.offsets[id] = at;
    this.hashes[id] = hash;
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    const mask = slots.length - 1;
    for (let id = 0; id < this.count; id++) {
      let slot = this.hashes[id] & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = id;
    }
    this.slots = slots;
  }
}

function grow<T extends Uint32Array>(array: T, atLeast: number): T {
  let length = array.length * 2;
  while (length < atLeast) length *= 2;
  const bigger = new (array.constructor as new (n: number) => T)(length);
  bigger.set(array);
  return bigger;
}
