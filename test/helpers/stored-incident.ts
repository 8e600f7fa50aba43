// The stored-incident fixture lives with the benchmarks, which use it too.
export { storeIncident, type StoredIncidentOptions } from '../../harness/fixture-incident.js';
