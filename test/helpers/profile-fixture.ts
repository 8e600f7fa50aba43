// The fixture profiles live with the benchmarks, which use them too.
export { buildProfile, type FixtureStack } from '../../harness/fixture-profile.js';
