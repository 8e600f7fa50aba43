import { kindOfRecord, type ProfileKindName } from '../model/profile-kind.js';
import type { SampleSource, StackTables } from './sample-source.js';

/** The profile kinds that have samples in [fromNs, toNs) (monotonic ns): CPU first when present. */
export function kindsIn(tables: StackTables, samples: SampleSource, fromNs: number, toNs: number): ProfileKindName[] {
  const seen = new Set<number>();
  samples.forEachSample(fromNs, toNs, (_time, stackId) => {
    seen.add(tables.stacks.kindOf(stackId));
  });
  const kinds: ProfileKindName[] = [];
  for (const record of seen) {
    const kind = kindOfRecord(record);
    if (kind) kinds.push(kind.name);
  }
  return kinds.sort((a, b) => (a === 'cpu' ? -1 : b === 'cpu' ? 1 : a.localeCompare(b)));
}
