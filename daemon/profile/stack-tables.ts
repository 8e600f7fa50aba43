import type { ProcessSnapshot } from '../symbols/proc-maps.js';
import { CommTable } from './comm-table.js';
import { ProcessTable } from './process-table.js';
import type { StackTables } from './sample-source.js';
import { StackTable } from './stack-table.js';

/**
 * Reads a new process's snapshot (ProcessFiles.snapshot: asynchronously, in tail2-reader);
 * tests and benchmarks pass a synchronous stand-in.
 */
export type Snapshotter = (pid: number, startTimeNs: number) => Promise<ProcessSnapshot | undefined> | ProcessSnapshot | undefined;

/**
 * The three interned tables, wired together: a stack holds a reference on its process and its
 * thread name, so freeing the last stack of a process lets the process go too.
 *
 * @param snapshot reads a new process's mappings; without one, processes have no snapshot.
 * @param monotonicToWallMs converts record times to wall-clock ms (for the memory budget's ages).
 */
export function createStackTables(snapshot: Snapshotter = () => undefined, monotonicToWallMs?: (ns: number) => number): StackTables {
  const pending = new Set<Promise<void>>();
  const processes = new ProcessTable((entry) => {
    const taken = snapshot(entry.pid, entry.startTimeNs);
    // A retake that fails (the process is gone) keeps what the first one saw.
    if (!(taken instanceof Promise)) {
      if (taken) processes.setSnapshot(entry, taken);
      return;
    }
    const settled = taken.then(
      (result) => {
        if (result) processes.setSnapshot(entry, result);
      },
      () => undefined, // the snapshotter records its own failures
    );
    pending.add(settled);
    void settled.finally(() => pending.delete(settled));
  }, monotonicToWallMs);
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
  return {
    processes,
    comms,
    stacks,
    snapshotsSettled: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
