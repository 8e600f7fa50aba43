import type { CountedStack } from '../harness/unwind-analysis.js';

/**
 * Parses `perf script -F comm,tid,ip,sym,dso --no-inline` output (a header line per sample, then
 * one `\tADDRESS SYMBOL (DSO)` line per frame, innermost first, then a blank line) into counted
 * stacks named as tail2's folded output names them, root first: kernel frames get `_[k]`, an
 * unresolved frame is `[unknown]`, symbol versions (`@@GLIBC_2.34`) are dropped.
 */
export function parsePerfScript(text: string): CountedStack[] {
  const counts = new Map<string, CountedStack>();
  let comm: string | undefined;
  let innermostFirst: string[] = [];
  const flush = () => {
    if (comm === undefined) return;
    const frames = innermostFirst.reverse();
    const key = `${comm}\0${frames.join(';')}`;
    const known = counts.get(key);
    if (known) known.count++;
    else counts.set(key, { comm, frames, count: 1 });
    comm = undefined;
    innermostFirst = [];
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush();
    } else if (/^\s/.test(line)) {
      const match = /^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$/.exec(line);
      if (match) innermostFirst.push(frameName(match[1], match[2]));
    } else {
      flush();
      // "comm  tid": the comm may hold spaces, the tid is the last field.
      comm = line.trim().replace(/\s+\d+\s*$/, '');
    }
  }
  flush();
  return [...counts.values()];
}

function frameName(symbol: string, dso: string): string {
  const name = symbol === '' || symbol === '[unknown]' ? '[unknown]' : symbol.replace(/@.*$/, '');
  if (dso.startsWith('[kernel') || dso === '[bpf_prog]') return `${name}_[k]`;
  return name;
}
