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
    // Typed columns grown by doubling: a text symbol line is ≥ 20 bytes, so count / 20 is a bound
    // that is rarely reached; plain arrays of 120,000 numbers and a mapping `from` cost ~3× more.
    let capacity = Math.max(1024, Math.ceil(count / 32));
    let high: Uint32Array = new Uint32Array(capacity);
    let low: Uint32Array = new Uint32Array(capacity);
    let nameStart: Uint32Array = new Uint32Array(capacity);
    let lineEnd: Uint32Array = new Uint32Array(capacity);
    let entries = 0;
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
        if (entries === capacity) {
          capacity *= 2;
          high = grown(high, capacity);
          low = grown(low, capacity);
          nameStart = grown(nameStart, capacity);
          lineEnd = grown(lineEnd, capacity);
        }
        const last = entries - 1;
        if (last >= 0 && (high[last] > hi || (high[last] === hi && low[last] > lo))) sorted = false;
        high[entries] = hi;
        low[entries] = lo;
        nameStart[entries] = at + 3;
        lineEnd[entries] = end;
        entries++;
      }
      at = end + 1;
    }
    high = high.subarray(0, entries);
    low = low.subarray(0, entries);
    nameStart = nameStart.subarray(0, entries);
    lineEnd = lineEnd.subarray(0, entries);
    if (sorted) return new KernelSymbols(text, high, low, nameStart, lineEnd);
    // Module and BPF symbols may come out of order: sort the rows by address.
    const order = new Uint32Array(entries);
    for (let i = 0; i < entries; i++) order[i] = i;
    const h = high;
    const l = low;
    order.sort((a, b) => h[a] - h[b] || l[a] - l[b]);
    return new KernelSymbols(text, reordered(high, order), reordered(low, order), reordered(nameStart, order), reordered(lineEnd, order));
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

function grown(values: Uint32Array, capacity: number): Uint32Array {
  const next = new Uint32Array(capacity);
  next.set(values);
  return next;
}

function reordered(values: Uint32Array, order: Uint32Array): Uint32Array {
  const out = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) out[i] = values[order[i]];
  return out;
}
