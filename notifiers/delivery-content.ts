import { readFile } from 'node:fs/promises';
import { parseIncidentSummary } from '../daemon/model/incident-summary.js';
import { pictureKindOf } from '../daemon/model/page-fault-profile.js';
import { PROFILE_KINDS } from '../daemon/model/profile-kind.js';
import { incidentMessage } from './incident-message.js';
import type { DeliveryContent } from './delivery.js';
import type { NotificationStore } from './notification-store.js';

/**
 * The message and flamegraph PNG of a stored incident, or undefined when the incident is gone
 * (retention removed it, or someone deleted it by hand). An incident without samples has no PNG
 * and no summary: its message says so by listing no functions.
 *
 * The PNG is the flamegraph of what fired: for a rule that watched a process, a cgroup or a unit,
 * the capture's `process.png` or `cgroup.png` (its samples alone), so the image in the channel
 * names the culprit; the host-wide `flamegraph.png` is on the incident page, one click away. The
 * host-wide one is sent for a system rule, a manual capture, and when the watched process had no
 * samples (or its image could not be rendered). For a rule on resident memory (rss, rss_growth)
 * the image is what it watched in page faults, `page_faults.process.png`: the code that made the
 * memory resident, not what ran on the CPU meanwhile; the CPU picture when it has none. The
 * message's functions are then the page faults' too (`page_faults.summary.json`, shares of bytes).
 */
export async function loadDeliveryContent(store: NotificationStore, id: string, publicUrl: string): Promise<DeliveryContent | undefined> {
  const record = await store.get(id);
  if (!record) return undefined;
  const instance = record.instance;
  const scoped =
    instance.kind === 'process'
      ? { file: 'process.png', of: `${instance.comm} (pid ${instance.pid})` }
      : instance.kind === 'cgroup'
        ? { file: 'cgroup.png', of: instance.unit ?? instance.path }
        : undefined;
  const picture = pictureKindOf(record.trigger, record.profiles);
  const memoryPng = scoped && picture !== 'cpu' ? await readOptional(store.artifactPath(id, `${picture}.${scoped.file}`)) : undefined;
  const scopedPng = memoryPng ?? (scoped ? await readOptional(store.artifactPath(id, scoped.file)) : undefined);
  const png = scopedPng ?? (await readOptional(store.artifactPath(id, 'flamegraph.png')));
  // The message's functions are of the profile its image shows.
  const summary = await readOptional(store.artifactPath(id, memoryPng ? `${picture}.summary.json` : 'summary.json'));
  const content: DeliveryContent = {
    // A damaged summary.json costs the message its function list, never the message.
    message: incidentMessage(record, summary ? parseIncidentSummary(summary.toString('utf8')) : undefined, publicUrl),
  };
  if (png) {
    content.flamegraphPng = new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
    content.flamegraphOf = scopedPng && scoped ? (memoryPng ? `${PROFILE_KINDS[picture].title.toLowerCase()} of ${scoped.of}` : scoped.of) : `every process on ${record.host}`;
  }
  return content;
}

async function readOptional(path: string | undefined): Promise<Buffer | undefined> {
  if (!path) return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
