import { readFileSync } from 'node:fs';

/**
 * Kernel text symbols from /proc/kallsyms, sorted by address for lookups by binary search.
 *
 * Kept compact because the daemon keeps them from its first capture on: the names in one latin1
 * buffer with their offsets, the module of each as an index into the few distinct ones. As a
 * string per name, sliced from the file's text (which they then keep alive), this kernel's 116,000
 * symbols held some 11 MB of heap; like this, about 4 MB.
 */
export class KernelSymbols {
  private constructor(
    private readonly addresses: BigUint64Array,
    /** Every name, one after the other. */
    private readonly nameBytes: Buffer,
    /** Where each name starts in nameBytes, and one more entry for the end of the last. */
    private readonly nameStarts: Uint32Array,
    private readonly moduleOf: Uint16Array | Uint32Array,
    private readonly modules: string[],
  ) {}

  /** False when the kernel hides addresses (kptr_restrict without CAP_SYSLOG): every frame is then `[kernel]`. */
  get available(): boolean {
    return this.addresses.length > 0;
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    const entries: Array<{ address: bigint; name: string; module: number }> = [];
    const modules: string[] = [];
    const moduleIndex = new Map<string, number>();
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      // ffffffff81000000 T _stext
      // ffffffffc0a01000 t nf_hook_slow	[nf_tables]
      const first = line.indexOf(' ');
      if (first < 0) continue;
      const type = line[first + 1];
      if (type !== 't' && type !== 'T' && type !== 'w' && type !== 'W') continue;
      const address = BigInt('0x' + line.slice(0, first));
      if (address === 0n) continue;
      const rest = line.slice(first + 3);
      const tab = rest.indexOf('\t');
      const name = tab < 0 ? rest : rest.slice(0, tab);
      const module = tab < 0 ? '[kernel.kallsyms]' : rest.slice(tab + 1).trim();
      let index = moduleIndex.get(module);
      if (index === undefined) {
        // A copy: a slice would keep the whole text of the file alive.
        index = modules.push(Buffer.from(module, 'latin1').toString('latin1')) - 1;
        moduleIndex.set(module, index);
      }
      entries.push({ address, name, module: index });
    }
    entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const nameStarts = new Uint32Array(entries.length + 1);
    let bytes = 0;
    entries.forEach((entry, i) => {
      nameStarts[i] = bytes;
      bytes += Buffer.byteLength(entry.name, 'latin1');
    });
    nameStarts[entries.length] = bytes;
    // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared pool that would keep it.
    const nameBytes = Buffer.allocUnsafeSlow(bytes);
    entries.forEach((entry, i) => nameBytes.write(entry.name, nameStarts[i], 'latin1'));
    // A kernel has a few hundred modules: their indexes fit 16 bits.
    const moduleOf = modules.length <= 0x10000 ? new Uint16Array(entries.length) : new Uint32Array(entries.length);
    entries.forEach((entry, i) => (moduleOf[i] = entry.module));
    return new KernelSymbols(BigUint64Array.from(entries, (entry) => entry.address), nameBytes, nameStarts, moduleOf, modules);
  }

  /** The function containing `address`, or undefined below the first symbol. */
  resolve(address: bigint): { name: string; module: string } | undefined {
    let low = 0;
    let high = this.addresses.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.addresses[mid] <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found < 0 ? undefined : { name: this.nameBytes.toString('latin1', this.nameStarts[found], this.nameStarts[found + 1]), module: this.modules[this.moduleOf[found]] };
  }
}
