import { readFileSync } from 'node:fs';

/** A process's resident memory by the kind of mapping it is in (bytes). */
export interface ResidentMemory {
  /** The sum of every mapping's Rss. */
  rssBytes: number;
  /** Mappings of BPF maps (`anon_inode:bpf-map`): ring buffers and mmap-able arrays. */
  bpfMapsBytes: number;
  /** Mappings of files (a path): executables, libraries, addons. */
  fileBytes: number;
  /** Everything else: anonymous memory, the brk heap, stacks. */
  anonymousBytes: number;
}

const MAPPING = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/;

/**
 * Reads /proc/PID/smaps (`self` by default) and sums Rss by mapping kind. smaps_rollup has the
 * totals but cannot tell a BPF map from a file; a daemon's smaps is a few hundred mappings, read
 * in about a millisecond. Returns undefined when the file cannot be read (the process is gone).
 */
export function readResidentMemory(pid: number | 'self' = 'self'): ResidentMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'latin1');
  } catch {
    return undefined;
  }
  const memory: ResidentMemory = { rssBytes: 0, bpfMapsBytes: 0, fileBytes: 0, anonymousBytes: 0 };
  let kind: 'bpfMapsBytes' | 'fileBytes' | 'anonymousBytes' = 'anonymousBytes';
  for (const line of text.split('\n')) {
    if (line.startsWith('Rss:')) {
      const bytes = Number.parseInt(line.slice(4), 10) * 1024;
      memory.rssBytes += bytes;
      memory[kind] += bytes;
      continue;
    }
    // Field lines start with a capitalised name; mapping lines with a hex address.
    const mapping = /^[0-9a-f]/.test(line) ? MAPPING.exec(line) : null;
    if (!mapping) continue;
    const name = mapping[1];
    kind = name.startsWith('anon_inode:bpf-map') ? 'bpfMapsBytes' : name.startsWith('/') ? 'fileBytes' : 'anonymousBytes';
  }
  return memory;
}

/** VmRSS of a process from /proc/PID/status (bytes); 0 when it is gone. */
export function residentBytesOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
