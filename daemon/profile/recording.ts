import type { ProcessEvents } from '../model/process-events.js';
import type { ProcessSnapshot } from '../symbols/proc-maps.js';
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
  private readonly decoder: BatchIngest;

  /**
   * @param snapshot reads a new process's mappings (ProcessFiles.snapshot); none in benchmarks.
   * @param events hears what records say about processes (the unwind loader).
   */
  constructor(snapshot?: Snapshotter, events?: ProcessEvents) {
    const tables = createStackTables(snapshot);
    ({ processes: this.processes, comms: this.comms, stacks: this.stacks } = tables);
    this.snapshotsSettled = tables.snapshotsSettled;
    this.decoder = new BatchIngest(this, this.samples, events);
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
