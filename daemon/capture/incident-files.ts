import { renderDiffFlamegraphSvg } from '../formats/diff-flamegraph.js';
import { renderFlamegraphPng } from '../formats/flamegraph-png.js';
import { renderFlamegraphSvg } from '../formats/flamegraph-svg.js';
import { renderFolded } from '../formats/folded.js';
import { encodePprofGzip } from '../formats/pprof.js';
import { encodeProfileSamples } from '../formats/profile-samples.js';
import { renderSpeedscope } from '../formats/speedscope.js';
import type { IncidentProfiles } from './capture-manager.js';
import type { IncidentRecord } from './incident-record.js';
import { summarizeIncident } from './incident-summary.js';
import { describeTrigger } from './trigger-text.js';

/**
 * The artifact files of an incident, rendered from its record and profiles (incident.json itself
 * is written by the store from the record). samples.json.gz keeps every sample with its time, the
 * source the other files are rendered from. Names are the ones the HTTP routes serve:
 * the whole window as flamegraph.svg/.png, pprof, folded and speedscope (per-sample times); the
 * triggering process alone as process.svg; the trigger window against the baseline as diff.svg; and summary.json, computed once for the
 * notifications and the incident page.
 */
export async function renderIncidentFiles(record: IncidentRecord, { profile, trigger, baseline }: IncidentProfiles): Promise<Array<[string, string | Uint8Array]>> {
  const who = record.process ? ` · ${record.process.comm} (pid ${record.process.pid})` : '';
  const title = `${record.rule} on ${record.host}${who}`;
  const subtitle = `${record.fired_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · ${describeTrigger(record)}`;
  const summary = summarizeIncident(trigger, baseline, record.process?.pid);
  const files: Array<[string, string | Uint8Array]> = [
    ['summary.json', JSON.stringify(summary, null, 2) + '\n'],
    ['samples.json.gz', encodeProfileSamples(profile)],
    ['stacks.folded', renderFolded(profile)],
    ['flamegraph.svg', renderFlamegraphSvg(profile, { title: `${title} · ${subtitle}` })],
    ['flamegraph.png', renderFlamegraphPng(profile, { title, subtitle })],
    ['profile.pb.gz', await encodePprofGzip(profile)],
    ['speedscope.json', JSON.stringify(renderSpeedscope(profile, title))],
  ];
  // The process the rule watched, alone: the first thing to look at on a busy host.
  if (record.process) files.push(['process.svg', renderFlamegraphSvg(profile, { title: `${title} · ${subtitle}`, onlyPid: record.process.pid })]);
  if (baseline) files.push(['diff.svg', renderDiffFlamegraphSvg(trigger, baseline, { title: `${title}: what changed when the condition began` })]);
  return files;
}
