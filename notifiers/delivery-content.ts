import { readFile } from 'node:fs/promises';
import { parseIncidentSummary } from '../daemon/model/incident-summary.js';
import { incidentMessage } from './incident-message.js';
import type { DeliveryContent } from './delivery.js';
import type { NotificationStore } from './notification-store.js';

/**
 * The message and flamegraph PNG of a stored incident, or undefined when the incident is gone
 * (retention removed it, or someone deleted it by hand). An incident without samples has no PNG
 * and no summary: its message says so by listing no functions.
 */
export async function loadDeliveryContent(store: NotificationStore, id: string, publicUrl: string): Promise<DeliveryContent | undefined> {
  const record = await store.get(id);
  if (!record) return undefined;
  const summary = await readOptional(store.artifactPath(id, 'summary.json'));
  const png = await readOptional(store.artifactPath(id, 'flamegraph.png'));
  return {
    // A damaged summary.json costs the message its function list, never the message.
    message: incidentMessage(record, summary ? parseIncidentSummary(summary.toString('utf8')) : undefined, publicUrl),
    flamegraphPng: png ? new Uint8Array(png.buffer, png.byteOffset, png.byteLength) : undefined,
  };
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
