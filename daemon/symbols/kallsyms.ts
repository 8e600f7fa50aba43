import { readFileSync } from 'node:fs';

const KERNEL_MODULE = '[kernel.kallsyms]';
const SPACE = 0x20;
const NEWLINE = 0x0a;
const T_LOWER = 0x74;
const T_UPPER = 0x54;
const W_LOWER = 0x77;
const W_UPPER = 0x57;

/** The value of one hex digit's byte, or -1. */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

/**
 * Kernel text symbols from /proc/kallsyms, sorted by address for lookups by binary search.
 *
 * The file has ~120,000 lines and a recording resolves a few hundred of them, so loading keeps
 * the file's bytes and numbers: each address as two 32-bit halves and where its name sits.
 * Names are decoded when a lookup first needs them. (Parsing every line into a
 * BigInt and two strings cost ~0.3 s of CPU per `tail2 record`.)
 */
export class KernelSymbols {
  private readonly resolved = new Map<number, { name: string; module: string }>();

  private constructor(
    private readonly text: Buffer,
    /** Entries in address order: high and low halves of the address, and the line's offsets in `text`. */
    private readonly high: Uint32Array,
    private readonly low: Uint32Array,
    private readonly nameStart: Uint32Array,
    private readonly lineEnd: Uint32Array,
  ) {}

  /** False when the kernel hides addresses (kptr_restrict without CAP_SYSLOG): every frame is then `[kernel]`. */
  get available(): boolean {
    return this.high.length > 0;
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    const text = readFileSync(path);
    const count = text.length;
    const high: number[] = [];
    const low: number[] = [];
    const nameStart: number[] = [];
    const lineEnd: number[] = [];
    let sorted = true;
    // Byte by byte: `ffffffff81000000 T _stext` or `ffffffffc0a01000 t nf_hook_slow\t[nf_tables]`.
    for (let at = 0; at < count; ) {
      let hi = 0;
      let lo = 0;
      let digits = 0;
      for (; at < count; at++, digits++) {
        const nibble = hexValue(text[at]);
        if (nibble < 0) break;
        hi = ((hi << 4) | (lo >>> 28)) >>> 0;
        lo = ((lo << 4) | nibble) >>> 0;
      }
      const type = text[at] === SPACE ? text[at + 1] : 0;
      let end = text.indexOf(NEWLINE, at);
      if (end < 0) end = count;
      if (digits > 0 && digits <= 16 && (hi !== 0 || lo !== 0) && (type === T_LOWER || type === T_UPPER || type === W_LOWER || type === W_UPPER)) {
        const last = high.length - 1;
        if (last >= 0 && (high[last] > hi || (high[last] === hi && low[last] > lo))) sorted = false;
        high.push(hi);
        low.push(lo);
        nameStart.push(at + 3);
        lineEnd.push(end);
      }
      at = end + 1;
    }
    let order = Array.from(high.keys());
    if (!sorted) order = order.sort((a, b) => high[a] - high[b] || low[a] - low[b]);
    const pick = (values: number[]) => Uint32Array.from(order, (i) => values[i]);
    return new KernelSymbols(text, pick(high), pick(low), pick(nameStart), pick(lineEnd));
  }

  /** The function containing `address`, or undefined below the first symbol. */
  resolve(address: bigint): { name: string; module: string } | undefined {
    const hi = Number((address >> 32n) & 0xffffffffn);
    const lo = Number(address & 0xffffffffn);
    let first = 0;
    let last = this.high.length - 1;
    let found = -1;
    while (first <= last) {
      const mid = (first + last) >>> 1;
      if (this.high[mid] < hi || (this.high[mid] === hi && this.low[mid] <= lo)) {
        found = mid;
        first = mid + 1;
      } else {
        last = mid - 1;
      }
    }
    return found < 0 ? undefined : this.entry(found);
  }

  private entry(index: number): { name: string; module: string } {
    let entry = this.resolved.get(index);
    if (!entry) {
      const rest = this.text.toString('utf8', this.nameStart[index], this.lineEnd[index]);
      const tab = rest.indexOf('\t');
      entry = tab < 0 ? { name: rest, module: KERNEL_MODULE } : { name: rest.slice(0, tab), module: rest.slice(tab + 1).trim() };
      this.resolved.set(index, entry);
    }
    return entry;
  }
}
