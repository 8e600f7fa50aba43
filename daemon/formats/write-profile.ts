import { writeFile, rename } from 'node:fs/promises';
import { Tail2Error } from '../model/tail2-error.js';
import type { SymbolizedProfile } from '../profile/symbolized-profile.js';
import type { PprofOptions } from './pprof.js';

/** Output formats, chosen by the file name's ending. */
export const OUTPUT_FORMATS = [
  { ending: '.speedscope.json', describe: 'speedscope JSON' },
  { ending: '.pb.gz', describe: 'pprof (gzipped protobuf)' },
  { ending: '.folded', describe: 'folded stacks' },
  { ending: '.svg', describe: 'interactive flamegraph SVG' },
  { ending: '.png', describe: 'flamegraph image' },
] as const;

export type OutputEnding = (typeof OUTPUT_FORMATS)[number]['ending'];

/** The format a path asks for, or a usage error listing the known endings. */
export function outputFormatOf(path: string): OutputEnding {
  const format = OUTPUT_FORMATS.find((f) => path.endsWith(f.ending));
  if (!format) {
    const known = OUTPUT_FORMATS.map((f) => `${f.ending} (${f.describe})`).join(', ');
    throw new Tail2Error('TAIL2_USAGE', `cannot tell the output format of "${path}": the file name must end in one of ${known}.`);
  }
  return format.ending;
}

/** What a format needs beyond the profile. */
export interface RenderProfileOptions {
  /** pprof: the profiled program's executable, and comment lines (see encodePprof). */
  pprof?: PprofOptions;
}

/**
 * Renders `profile` in the format of `path`'s ending. Each renderer is imported when first asked
 * for: `tail2 record -o x.pb.gz` loads neither the SVG renderer nor resvg (the PNG one).
 */
export async function renderProfile(profile: SymbolizedProfile, ending: OutputEnding, options: RenderProfileOptions = {}): Promise<Buffer> {
  switch (ending) {
    case '.speedscope.json': {
      const { renderSpeedscope } = await import('./speedscope.js');
      return Buffer.from(JSON.stringify(renderSpeedscope(profile, profile.title)));
    }
    case '.pb.gz': {
      const { encodePprofGzip } = await import('./pprof.js');
      return encodePprofGzip(profile, options.pprof);
    }
    case '.folded': {
      const { renderFolded } = await import('./folded.js');
      return Buffer.from(renderFolded(profile));
    }
    case '.svg': {
      const { renderFlamegraphSvg } = await import('./flamegraph-svg.js');
      return Buffer.from(renderFlamegraphSvg(profile, { title: profile.title }));
    }
    case '.png': {
      const { renderFlamegraphPng } = await import('./flamegraph-png.js');
      return renderFlamegraphPng(profile, { title: profile.title ?? 'tail2 profile', subtitle: `${profile.samples.stack.length.toLocaleString('en-US')} samples at ${profile.frequency} Hz` });
    }
  }
}

/** Writes the profile to `path` atomically (temporary file, then rename), so a reader never sees half a file. */
export async function writeProfile(profile: SymbolizedProfile, path: string, options: RenderProfileOptions = {}): Promise<void> {
  const bytes = await renderProfile(profile, outputFormatOf(path), options);
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, path);
  } catch (error) {
    throw new Tail2Error('TAIL2_OUTPUT', `cannot write ${path}: ${(error as Error).message}`, undefined, { cause: error });
  }
}
