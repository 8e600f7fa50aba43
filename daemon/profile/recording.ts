import type { ProcessEvents } from '../model/process-events.js';
import type { ProcessSnapshot } from '../symbols/proc-maps.js';
import { AllocationLedger } from './allocation-ledger.js';
import { BatchIngest } from './batch-ingest.js';
import type { CommTable } from './comm-table.js';
import type { ProcessEntry, ProcessTable } from './process-table.js';
import { SampleColumns } from './sample-columns.js';
import type { StackTables } from './sample-source.js';
import type { StackTable } from './stack-table.js';
import { createStackTables, type Snapshotter } from './stack-tables.js';

/** The snapshot a process got when first seen (see proc-maps.ts). */
export function processSnapshot(entry: ProcessEntry): ProcessSnapshot | undefined {
  return entry.snapshot;
}

/**
 * Everything one sampling session collected: interned processes, thread names and stacks, and the
 * samples in arrival order. Feed it the sampler's batches with {@link Recording.ingest}.
 */
export class Recording implements StackTables {
  readonly processes: ProcessTable;
  readonly comms: CommTable;
  readonly stacks: StackTable;
  readonly samples = new SampleColumns();
  readonly snapshotsSettled: () => Promise<void>;
  /** The outstanding sampled allocations, when the recording samples them (`allocationMeanBytes`). */
  readonly allocations: AllocationLedger | undefined;
  private readonly decoder: BatchIngest;

  /**
   * @param snapshot reads a new process's mappings (ProcessFiles.snapshot); none in benchmarks.
   * @param events hears what records say about processes (the unwind loader).
   * @param allocationMeanBytes the allocation probes' sampling mean, when they run: their samples
   *   are weighed by it, and followed to their frees (daemon/profile/allocation-ledger.ts).
   */
  constructor(snapshot?: Snapshotter, events?: ProcessEvents, allocationMeanBytes?: number) {
    const tables = createStackTables(snapshot);
    ({ processes: this.processes, comms: this.comms, stacks: this.stacks } = tables);
    this.snapshotsSettled = tables.snapshotsSettled;
    this.allocations = allocationMeanBytes !== undefined ? new AllocationLedger(this.stacks, allocationMeanBytes) : undefined;
    this.decoder = new BatchIngest(this, this.samples, events, this.allocations);
  }

  ingest(batch: Uint8Array): void {
    this.decoder.ingest(batch);
  }

  /** Exec events seen (processes that started a new image while sampling). */
  get execEvents(): number {
    return this.decoder.execs;
  }

  /** Records the decoder had to skip (unknown version, cut short). */
  get skippedRecords(): number {
    return this.decoder.skipped;
  }
}
