/** Fetching samples.json.gz. */
import type { StoredSamples } from './samples-model.js';

/** Thrown when the samples cannot be fetched. */
export class SamplesLoadError extends Error {
  override name = 'SamplesLoadError';
  readonly code = 'TAIL2_SAMPLES_LOAD';
}

/** The decoded file at `url` (not yet checked: see buildModel). */
export async function loadSamples(url: string): Promise<StoredSamples> {
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new SamplesLoadError(`HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // Served as raw gzip; a proxy that added Content-Encoding makes the browser inflate it already.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return (await new Response(stream).json()) as StoredSamples;
  }
  return JSON.parse(new TextDecoder().decode(bytes)) as StoredSamples;
}
