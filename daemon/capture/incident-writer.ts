import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { renderFlamegraphSvg } from '../formats/flamegraph-svg.js';
import { renderFolded } from '../formats/folded.js';
import { encodePprofGzip } from '../formats/pprof.js';
import { renderSpeedscope } from '../formats/speedscope.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { IncidentRecord } from './incident-record.js';

/**
 * Writes an incident as a directory under `<stateDir>/incidents/<id>/`: incident.json, the folded
 * stacks, the flamegraph, pprof, and speedscope JSON (which keeps each sample's time). The
 * directory is built under a temporary name, every file and the directory fsynced, then renamed
 * into place, so a reader (or a daemon restarting after a crash) sees the whole incident or none.
 */
export async function writeIncident(stateDir: string, record: IncidentRecord, profile: SymbolizedProfile): Promise<string> {
  return writeIncidentFiles(stateDir, record.id, await incidentArtifacts(record, profile));
}

/** The files of an incident directory, rendered from its record and profile. */
export async function incidentArtifacts(record: IncidentRecord, profile: SymbolizedProfile): Promise<Array<[string, string | Uint8Array]>> {
  const title = `${record.rule} on ${record.host} at ${record.fired_at}`;
  return [
    ['incident.json', JSON.stringify(record, null, 2) + '\n'],
    ['stacks.folded', renderFolded(profile)],
    ['flamegraph.svg', renderFlamegraphSvg(profile, { title })],
    ['profile.pb.gz', await encodePprofGzip(profile)],
    ['speedscope.json', JSON.stringify(renderSpeedscope(profile, title))],
  ];
}

/** Writes `files` as `<stateDir>/incidents/<id>/`, atomically (see the module comment). */
export async function writeIncidentFiles(stateDir: string, id: string, files: Array<[string, string | Uint8Array]>): Promise<string> {
  const incidents = join(stateDir, 'incidents');
  const final = join(incidents, id);
  const temporary = join(incidents, `.tmp-${id}`);
  await mkdir(temporary, { recursive: true });
  try {
    for (const [name, content] of files) await writeDurably(join(temporary, name), content);
    await fsyncPath(temporary);
    await rename(temporary, final);
    await fsyncPath(incidents);
    return final;
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

async function writeDurably(path: string, content: string | Uint8Array): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
