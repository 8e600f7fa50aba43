import type { Frame, FrameKind, SymbolizedProfile } from '../daemon/profile/symbolized-profile.js';

/** One stack of a fixture: frame names root first, e.g. ['main', 'outer', 'leaf_spin'], and how many samples it gets. */
export interface FixtureStack {
  frames: Array<string | { name: string; kind: FrameKind; module?: string; file?: string; line?: number; inlined?: boolean }>;
  pid?: number;
  comm?: string;
  count: number;
}

/**
 * Builds a {@link SymbolizedProfile} from a readable description, for tests of the output formats.
 * Samples are spread evenly over time in the order the stacks are given.
 */
export function buildProfile(stacks: FixtureStack[], frequency = 99): SymbolizedProfile {
  const frames: Frame[] = [];
  const frameIndex = new Map<string, number>();
  const internFrame = (frame: FixtureStack['frames'][number]): number => {
    const f: Frame = typeof frame === 'string' ? { name: frame, kind: 'native', module: '/usr/bin/fixture' } : frame;
    const key = `${f.kind}\0${f.module ?? ''}\0${f.name}\0${f.file ?? ''}\0${f.line ?? ''}\0${f.inlined ? 1 : 0}`;
    let index = frameIndex.get(key);
    if (index === undefined) {
      index = frames.length;
      frames.push({ ...f, address: f.address ?? BigInt(0x1000 + index * 16) });
      frameIndex.set(key, index);
    }
    return index;
  };
  const total = stacks.reduce((sum, s) => sum + s.count, 0);
  const periodNs = 1e9 / frequency;
  const stackColumn = new Uint32Array(total);
  const timeColumn = new Float64Array(total);
  let sample = 0;
  const profileStacks = stacks.map((s, stackIndex) => {
    for (let i = 0; i < s.count; i++) {
      stackColumn[sample] = stackIndex;
      timeColumn[sample] = sample * periodNs;
      sample++;
    }
    return { frames: s.frames.map(internFrame), pid: s.pid ?? 4242, comm: s.comm ?? 'fixture' };
  });
  return {
    kind: 'cpu',
    startTimeMs: Date.UTC(2026, 10, 25, 3, 0, 0),
    durationNs: total * periodNs,
    periodNs,
    frequency,
    frames,
    stacks: profileStacks,
    samples: { stack: stackColumn, timeNs: timeColumn },
    title: 'fixture profile',
  };
}
