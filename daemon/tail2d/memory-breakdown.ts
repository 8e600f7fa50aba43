import { memoryUsage } from 'node:process';
import { getHeapStatistics } from 'node:v8';
import type { MemoryBreakdown } from '../model/daemon-status.js';
import { readResidentMemory, residentBytesOf } from './resident-memory.js';

/** What the daemon's parts hold (bytes), as they count it themselves. */
export interface HeldMemory {
  samplesBytes: number;
  stacksBytes: number;
  /** MemoryBudget.stats().parts, by consumer name (`processes`, `metric_history`, …). */
  budgetParts: Record<string, number>;
  unwindTablesBytes: number;
  /** tail2-reader pids running now. */
  readerPids: number[];
}

/**
 * Where tail2d's RSS goes ({@link MemoryBreakdown}): smaps says how much is in files, BPF maps
 * and anonymous memory; V8 says how much of the anonymous memory is its heap, array buffers and
 * other external memory; what is left of it is native memory nobody reports (unaccounted).
 * Estimates that exceed what is resident (array buffers allocated but never touched) are cut so
 * that the shares never sum past the RSS.
 */
export function memoryBreakdown(held: HeldMemory): MemoryBreakdown {
  const usage = memoryUsage();
  const heap = getHeapStatistics();
  const resident = readResidentMemory() ?? { rssBytes: usage.rss, bpfMapsBytes: 0, fileBytes: 0, anonymousBytes: usage.rss };
  let anonymousLeft = resident.anonymousBytes;
  const take = (bytes: number): number => {
    const taken = Math.max(0, Math.min(bytes, anonymousLeft));
    anonymousLeft -= taken;
    return taken;
  };
  const v8Heap = take(heap.total_physical_size);
  const arrayBuffers = take(usage.arrayBuffers);
  const external = take(usage.external - usage.arrayBuffers);
  const part = (name: string) => held.budgetParts[name] ?? 0;
  return {
    rss_bytes: resident.rssBytes,
    rss: {
      v8_heap_bytes: v8Heap,
      array_buffers_bytes: arrayBuffers,
      external_bytes: external,
      bpf_maps_bytes: resident.bpfMapsBytes,
      code_bytes: resident.fileBytes,
      unaccounted_bytes: anonymousLeft,
    },
    v8_heap: { used_bytes: heap.used_heap_size, total_bytes: heap.total_heap_size },
    held: {
      samples_bytes: held.samplesBytes,
      stacks_bytes: held.stacksBytes,
      processes_bytes: part('processes'),
      metric_history_bytes: part('metric_history'),
      rule_instances_bytes: part('rule_instances'),
      collectors_bytes: part('process_metrics'),
      unwind_tables_bytes: held.unwindTablesBytes,
    },
    symbol_readers_rss_bytes: held.readerPids.reduce((sum, pid) => sum + residentBytesOf(pid), 0),
  };
}
