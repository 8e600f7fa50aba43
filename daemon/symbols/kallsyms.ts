import { readFileSync } from 'node:fs';

/** Kernel text symbols from /proc/kallsyms, sorted by address for lookups by binary search. */
export class KernelSymbols {
  private constructor(
    private readonly addresses: BigUint64Array,
    private readonly names: string[],
    private readonly modules: string[],
  ) {}

  /** False when the kernel hides addresses (kptr_restrict without CAP_SYSLOG): every frame is then `[kernel]`. */
  get available(): boolean {
    return this.addresses.length > 0;
  }

  static load(path = '/proc/kallsyms'): KernelSymbols {
    const entries: Array<{ address: bigint; name: string; module: string }> = [];
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
      entries.push({ address, name, module });
    }
    entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    return new KernelSymbols(
      BigUint64Array.from(entries.map((e) => e.address)),
      entries.map((e) => e.name),
      entries.map((e) => e.module),
    );
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
    return found < 0 ? undefined : { name: this.names[found], module: this.modules[found] };
  }
}
