import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../daemon/sampler/native-addon.js';
import { PROFILE_KINDS } from '../daemon/model/profile-kind.js';
import { SAMPLE_BYTES, SAMPLE_FIELDS, TAIL2_KIND_PAGE_FAULT, TAIL2_KIND_SAMPLE, TAIL2_MAX_STACK_DEPTH, TAIL2_RECORD_VERSION } from '../daemon/sampler/record-layout.generated.js';
import { RECORD_HEADER_BYTES, RECORD_VERSION, RecordLayout, RecordWords } from '../daemon/sampler/sample-record.js';
import { repoRoot } from './helpers/fixtures.js';

// The record has one source, bpf/sampler.h: the BPF program writes it, the native addon includes
// it, and daemon/sampler/record-layout.generated.ts is generated from it for the TypeScript
// decoder. These fail when any of the three drift from the header.
describe('sample record layout', () => {
  const addon = loadNativeAddon();

  it('is what scripts/gen-record-layout.mjs generates from bpf/sampler.h today', () => {
    const check = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'gen-record-layout.mjs'), '--check'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('has the offsets, size, version and depth the compiled addon has (offsetof in C)', () => {
    expect(addon.RECORD_LAYOUT).toEqual(RecordLayout);
    expect(Object.keys(addon.RECORD_LAYOUT)).toEqual(Object.keys(SAMPLE_FIELDS));
    expect(addon.RECORD_HEADER_BYTES).toBe(SAMPLE_BYTES);
    expect(RECORD_HEADER_BYTES).toBe(SAMPLE_BYTES);
    expect(addon.RECORD_VERSION).toBe(TAIL2_RECORD_VERSION);
    expect(RECORD_VERSION).toBe(TAIL2_RECORD_VERSION);
    expect(addon.MAX_STACK_DEPTH).toBe(TAIL2_MAX_STACK_DEPTH);
  });

  it('gives each kind the BPF side writes the record number the profile kinds read', () => {
    expect(PROFILE_KINDS.cpu.record).toBe(TAIL2_KIND_SAMPLE);
    expect(PROFILE_KINDS.page_faults.record).toBe(TAIL2_KIND_PAGE_FAULT);
  });

  it('decodes the fields from the words the layout puts them in', () => {
    expect(RecordWords.timeLo * 4).toBe(SAMPLE_FIELDS.timestamp_ns.offset);
    expect(RecordWords.weightLo * 4).toBe(SAMPLE_FIELDS.weight.offset);
    expect(RecordWords.versionFlagsKind * 4).toBe(SAMPLE_FIELDS.version.offset);
    expect(RecordWords.stacks * 4).toBe(SAMPLE_FIELDS.stacks.offset);
  });

  it('notices a header the generated file does not match', () => {
    // The check compares against the header as it is: a changed copy must fail it.
    const out = execFileSync('bash', ['-c', `cd "${repoRoot}" && sed 's/__u64 weight;/__u64 weight; __u64 added_field;/' bpf/sampler.h > /tmp/tail2-sampler-changed.h && echo ok`], { encoding: 'utf8' });
    expect(out.trim()).toBe('ok');
    const changed = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'gen-record-layout.mjs'), '--check', '--header', '/tmp/tail2-sampler-changed.h'], { encoding: 'utf8' });
    expect(changed.status).toBe(1);
    expect(changed.stderr).toContain('added_field');
  });
});
