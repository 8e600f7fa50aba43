/**
 * Interns raw stacks (process, thread name, kernel and user return addresses) so each unique stack
 * is stored once and a sample is a 4-byte stack id. Everything lives in typed arrays: interning a
 * stack already seen costs a hash over its words and one comparison, and allocates nothing.
 *
 * Stacks are reference counted, one reference per sample that uses them: the rolling buffer
 * releases a sample's stack when it evicts the sample, and a stack no sample uses any more is
 * freed (its id is reused, its words reclaimed by compaction). So the table follows what the
 * buffer holds, and process churn cannot grow it without bound. A recording that never releases
 * simply keeps everything.
 *
 * Arena layout per stack: [processId, commId, kernelLen, userLen, kindFlags, kernel frames…, user
 * frames…], each frame two u32 words (low, high) of its 64-bit address, innermost first. `kindFlags`
 * is the record's profile kind (low 16 bits) and its stack flags (bits 16–23: a stack the kernel
 * could not read): two samples of different kinds, or a readable and an unreadable stack, are
 * different stacks even with the same frames.
 */
const HEADER_WORDS = 5;
const EMPTY = -1;
const DELETED = -2;

/**
 * The tables a stack refers to (processes, thread names): told when a stack that refers to an
 * entry is created and when it is freed, so they can free entries no stack uses.
 */
export interface StackReferents {
  retain(processId: number, commId: number): void;
  release(processId: number, commId: number): void;
}

export class StackTable {
  private arena = new Uint32Array(1 << 16);
  private arenaUsed = 0;
  /** Arena words of freed stacks, reclaimed by compaction. */
  private garbageWords = 0;
  private offsets = new Uint32Array(1 << 12);
  private hashes = new Uint32Array(1 << 12);
  private refs = new Uint32Array(1 << 12);
  private slots = new Int32Array(1 << 13).fill(EMPTY);
  /** Slots holding DELETED; they lengthen probes until the next rehash. */
  private deletedSlots = 0;
  /** Ids handed out so far (live + free). */
  private highWater = 0;
  private readonly freeIds: number[] = [];

  constructor(private readonly referents?: StackReferents) {}

  /** Number of live unique stacks. */
  get size(): number {
    return this.highWater - this.freeIds.length;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.arena.byteLength + this.offsets.byteLength + this.hashes.byteLength + this.refs.byteLength + this.slots.byteLength;
  }

  /**
   * Returns the id of the stack made of the u32 words at `words[start…]` (kernel frames then user
   * frames, two words each), adding it when new, and takes one reference on it.
   */
  intern(processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number, kindFlags = 0): number {
    const frameWords = (kernelLen + userLen) * 2;
    let hash = Math.imul(processId ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(commId + 1, 0xc2b2ae35) ^ (kernelLen << 16) ^ userLen ^ Math.imul(kindFlags, 0x27d4eb2f);
    for (let i = start, end = start + frameWords; i < end; i++) {
      hash = Math.imul(hash ^ words[i], 0x5bd1e995);
      hash ^= hash >>> 15;
    }
    hash >>>= 0;
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slots[slot];
      if (id === EMPTY) {
        const newId = this.add(hash, processId, commId, words, start, kernelLen, userLen, kindFlags);
        this.slots[slot] = newId;
        if ((this.size + this.deletedSlots) * 2 > this.slots.length) this.rehash();
        return newId;
      }
      if (id >= 0 && this.hashes[id] === hash && this.equals(id, processId, commId, words, start, kernelLen, userLen, kindFlags)) {
        this.refs[id]++;
        return id;
      }
    }
  }

  /** Takes one more reference on a stack already interned (a holder other than a sample: an outstanding allocation). */
  retain(stackId: number): void {
    if (this.refs[stackId] === 0) throw new Error(`StackTable: stack ${stackId} retained after it was freed`);
    this.refs[stackId]++;
  }

  /** Drops one reference (one evicted sample, one freed allocation); frees the stack when none is left. */
  release(stackId: number): void {
    if (this.refs[stackId] === 0) throw new Error(`StackTable: stack ${stackId} released more often than interned`);
    if (--this.refs[stackId] > 0) return;
    const at = this.offsets[stackId];
    const processId = this.arena[at];
    const commId = this.arena[at + 1];
    this.garbageWords += HEADER_WORDS + (this.arena[at + 2] + this.arena[at + 3]) * 2;
    const mask = this.slots.length - 1;
    let slot = this.hashes[stackId] & mask;
    while (this.slots[slot] !== stackId) slot = (slot + 1) & mask;
    this.slots[slot] = DELETED;
    this.deletedSlots++;
    this.freeIds.push(stackId);
    if (this.garbageWords > 1 << 16 && this.garbageWords * 2 > this.arenaUsed) this.compact();
    this.referents?.release(processId, commId);
  }

  /** References (samples) the stack has; 0 for a freed id. */
  references(stackId: number): number {
    return this.refs[stackId];
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

  /** The profile kind of the samples of this stack (the record's `kind`, daemon/model/profile-kind.ts). */
  kindOf(stackId: number): number {
    return this.arena[this.offsets[stackId] + 4] & 0xffff;
  }

  /** The record's stack flags (bpf/sampler.h TAIL2_FLAG_*): which of its stacks the kernel could not read, and whether its user walk was cut short. */
  flagsOf(stackId: number): number {
    return this.arena[this.offsets[stackId] + 4] >>> 16;
  }

  /** Address of frame `index` (kernel frames first, innermost first) of a stack. */
  frame(stackId: number, index: number): bigint {
    const at = this.offsets[stackId] + HEADER_WORDS + index * 2;
    return (BigInt(this.arena[at + 1]) << 32n) | BigInt(this.arena[at]);
  }

  private equals(id: number, processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number, kindFlags: number): boolean {
    const at = this.offsets[id];
    const arena = this.arena;
    if (arena[at] !== processId || arena[at + 1] !== commId || arena[at + 2] !== kernelLen || arena[at + 3] !== userLen || arena[at + 4] !== kindFlags) return false;
    const frameWords = (kernelLen + userLen) * 2;
    for (let i = 0; i < frameWords; i++) if (arena[at + HEADER_WORDS + i] !== words[start + i]) return false;
    return true;
  }

  private add(hash: number, processId: number, commId: number, words: Uint32Array, start: number, kernelLen: number, userLen: number, kindFlags: number): number {
    const frameWords = (kernelLen + userLen) * 2;
    const needed = this.arenaUsed + HEADER_WORDS + frameWords;
    if (needed > this.arena.length) this.arena = grow(this.arena, needed);
    const id = this.freeIds.pop() ?? this.highWater++;
    if (id >= this.offsets.length) {
      this.offsets = grow(this.offsets, id + 1);
      this.hashes = grow(this.hashes, id + 1);
      this.refs = grow(this.refs, id + 1);
    }
    const at = this.arenaUsed;
    this.arena[at] = processId;
    this.arena[at + 1] = commId;
    this.arena[at + 2] = kernelLen;
    this.arena[at + 3] = userLen;
    this.arena[at + 4] = kindFlags;
    this.arena.set(words.subarray(start, start + frameWords), at + HEADER_WORDS);
    this.arenaUsed = needed;
    this.offsets[id] = at;
    this.hashes[id] = hash;
    this.refs[id] = 1;
    this.referents?.retain(processId, commId);
    return id;
  }

  /** Rebuilds the slot array without DELETED markers (and bigger when needed). */
  private rehash(): void {
    const size = this.size * 4 > this.slots.length ? this.slots.length * 2 : this.slots.length;
    const slots = new Int32Array(size).fill(EMPTY);
    const mask = size - 1;
    for (let id = 0; id < this.highWater; id++) {
      if (this.refs[id] === 0) continue;
      let slot = this.hashes[id] & mask;
      while (slots[slot] !== EMPTY) slot = (slot + 1) & mask;
      slots[slot] = id;
    }
    this.slots = slots;
    this.deletedSlots = 0;
  }

  /** Copies live stacks into a fresh arena; ids stay the same, only their offsets move. */
  private compact(): void {
    const arena = new Uint32Array(Math.max(1 << 16, nextPowerOfTwo(this.arenaUsed - this.garbageWords)));
    let used = 0;
    for (let id = 0; id < this.highWater; id++) {
      if (this.refs[id] === 0) continue;
      const at = this.offsets[id];
      const words = HEADER_WORDS + (this.arena[at + 2] + this.arena[at + 3]) * 2;
      arena.set(this.arena.subarray(at, at + words), used);
      this.offsets[id] = used;
      used += words;
    }
    this.arena = arena;
    this.arenaUsed = used;
    this.garbageWords = 0;
    this.rehash();
  }
}

function nextPowerOfTwo(value: number): number {
  let result = 1;
  while (result < value) result *= 2;
  return result;
}

function grow<T extends Uint32Array>(array: T, atLeast: number): T {
  let length = array.length * 2;
  while (length < atLeast) length *= 2;
  const bigger = new (array.constructor as new (n: number) => T)(length);
  bigger.set(array);
  return bigger;
}
