import { renderFlamegraphSvg } from '../formats/flamegraph-svg.js';
import { renderFolded } from '../formats/folded.js';
import { encodePprofGzip } from '../formats/pprof.js';
import { renderSpeedscope } from '../formats/speedscope.js';
import type { IncidentProfiles } from './capture-manager.js';
import type { IncidentRecord } from './incident-record.js';

/**
 * The artifact files of an incident, rendered from its record and profiles (incident.json itself
 * is written by the store from the record). Names are the ones the HTTP routes serve.
 */
export async function renderIncidentFiles(record: IncidentRecord, { profile }: IncidentProfiles): Promise<Array<[string, string | Uint8Array]>> {
  const title = `${record.rule} on ${record.host} at ${record.fired_at}`;
  return [
    ['stacks.folded', renderFolded(profile)],
    ['flamegraph.svg', renderFlamegraphSvg(profile, { title })],
    ['profile.pb.gz', await encodePprofGzip(profile)],
    ['speedscope.json', JSON.stringify(renderSpeedscope(profile, title))],
  ];
}
