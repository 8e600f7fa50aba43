/**
 * What the sampler's records say about processes beyond their samples, for what keeps state per
 * process in the kernel (the unwind loader, daemon/unwind/). Start times are exact: nanoseconds
 * on the boot clock as a bigint, as the BPF side compares them (a number loses the low bits
 * after 104 days of uptime).
 */
export interface ProcessEvents {
  /**
   * A sample of a process the walk has no tables for, or whose stack met an address outside
   * every mapping the walk knows (`unknownMapping`: it mapped code since, e.g. dlopen). Called
   * for every such sample: must be cheap when there is nothing new to do.
   */
  tablesWanted(pid: number, startTimeNs: bigint, unknownMapping: boolean): void;
  /**
   * The process exec'd a new image (what was known of its mappings no longer holds) or exited, at
   * `timeNs` (CLOCK_MONOTONIC, the record's time).
   */
  gone(pid: number, startTimeNs: bigint, timeNs: number): void;
}
