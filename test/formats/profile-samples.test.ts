import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeProfileSamples, encodeProfileSamples } from '../../daemon/formats/profile-samples.js';
import { buildProfile } from '../helpers/profile-fixture.js';

describe('samples.json.gz', () => {
  it('round-trips a profile with every sample time, frame and address', () => {
    const profile = buildProfile([
      { frames: ['main', 'outer', 'leaf_spin'], count: 90 },
      { frames: ['main', { name: 'do_syscall_64', kind: 'kernel', module: '[kernel.kallsyms]' }], count: 10, pid: 7, comm: 'w<1>' },
    ]);
    profile.frames[0].address = 0xffffffff81000010n;
    const back = decodeProfileSamples(encodeProfileSamples(profile));
    expect(back.frames).toEqual(profile.frames);
    expect(back.stacks).toEqual(profile.stacks);
    expect(Array.from(back.samples.stack)).toEqual(Array.from(profile.samples.stack));
    for (let i = 0; i < profile.samples.timeNs.length; i++) expect(back.samples.timeNs[i]).toBeCloseTo(profile.samples.timeNs[i], -1);
    expect(back.startTimeMs).toBe(profile.startTimeMs);
    expect(back.periodNs).toBe(profile.periodNs);
  });

  it('refuses a file of another format', () => {
    expect(() => decodeProfileSamples(gzipSync(JSON.stringify({ format: 'other' })))).toThrow(/not a tail2-samples\/1 file/);
  });
});
