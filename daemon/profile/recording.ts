import { snapshotProcess, type ProcessSnapshot } from '../symbols/proc-maps.js';
import { BatchIngest } from './batch-ingest.js';
import { CommTable } from './comm-table.js';
import { ProcessTable, type ProcessEntry } from './process-table.js';
import { SampleColumns } from './sample-columns.js';
import { StackTable } from './stack-table.js';

/** The snapshot a process got when first seen (see proc-maps.ts). */
export function processSnapshot(entry: ProcessEntry): ProcessSnapshot | undefined {
  return entry.snapshot as ProcessSnapshot | undefined;
}

/**
 * Everything one sampling session collected: interned processes, thread names and stacks, and the
 * samples in arrival order. Feed it the sampler's batches with {@link Recording.ingest}.
 */
export class Recording {
  readonly processes: ProcessTable;
  readonly comms = new CommTable();
  readonly stacks = new StackTable();
  readonly samples = new SampleColumns();
  private readonly decoder: BatchIngest;

  /**
   * @param snapshot reads a new process's mappings; replaced in benchmarks with synthetic input.
   */
  constructor(snapshot: (pid: number) => ProcessSnapshot | undefined = snapshotProcess) {
    this.processes = new ProcessTable((entry) => {
      // A retake that fails (the process is gone) keeps what the first one saw.
      entry.snapshot = snapshot(entry.pid) ?? entry.snapshot;
    });
    this.decoder = new BatchIngest({ processes: this.processes, comms: this.comms, stacks: this.stacks }, this.samples);
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
