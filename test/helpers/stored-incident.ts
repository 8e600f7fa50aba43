// The stored-incident fixture lives in harness/, where the benchmarks use it too.
export { fixtureRecord, storeIncident, type FixtureRecordOptions, type StoredIncidentOptions } from '../../harness/fixture-incident.js';
