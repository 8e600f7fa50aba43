import { snapshotProcess, type ProcessSnapshot } from '../symbols/proc-maps.js';
import { CommTable } from './comm-table.js';
import { ProcessTable } from './process-table.js';
import type { StackTables } from './sample-source.js';
import { StackTable } from './stack-table.js';

/**
 * The three interned tables, wired together: a stack holds a reference on its process and its
 * thread name, so freeing the last stack of a process lets the process go too.
 *
 * @param snapshot reads a new process's mappings; tests and benchmarks pass a stand-in.
 */
export function createStackTables(snapshot: (pid: number) => ProcessSnapshot | undefined = snapshotProcess): StackTables {
  const processes = new ProcessTable((entry) => {
    // A retake that fails (the process is gone) keeps what the first one saw.
    entry.snapshot = snapshot(entry.pid) ?? entry.snapshot;
  });
  const comms = new CommTable();
  const stacks = new StackTable({
    retain(processId, commId) {
      processes.retain(processId);
      comms.retain(commId);
    },
    release(processId, commId) {
      processes.release(processId);
      comms.release(commId);
    },
  });
  return { processes, comms, stacks };
}
