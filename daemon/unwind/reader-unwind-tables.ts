import type { UnwindTable } from '../model/unwind-table.js';
import type { ProcessFiles } from '../symbols/process-files.js';
import type { ExecutableMapping, ProcessSnapshot } from '../symbols/proc-maps.js';
import type { UnwindTableSource } from './unwind-loader.js';

/**
 * Tables straight from tail2-reader, one request per file at a time: two processes that ask for
 * the same file while it is being compiled share the answer. The loader keeps what it loaded, so
 * nothing is held here once a request settles.
 */
export class ReaderUnwindTables implements UnwindTableSource {
  private readonly inFlight = new Map<string, Promise<UnwindTable | undefined>>();

  constructor(private readonly files: ProcessFiles) {}

  tableFor(process: ProcessSnapshot, mapping: ExecutableMapping): Promise<UnwindTable | undefined> {
    const pending = this.inFlight.get(mapping.cacheKey);
    if (pending) return pending;
    const request = this.files.unwindTable(process, mapping).finally(() => this.inFlight.delete(mapping.cacheKey));
    this.inFlight.set(mapping.cacheKey, request);
    return request;
  }

  vdsoTable(): Promise<UnwindTable | undefined> {
    return Promise.resolve(undefined);
  }
}
