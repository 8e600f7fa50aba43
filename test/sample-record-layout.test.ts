import { describe, expect, it } from 'vitest';
import { loadNativeAddon } from '../daemon/sampler/native-addon.js';
import { RECORD_HEADER_BYTES, RECORD_VERSION, RecordLayout } from '../daemon/sampler/sample-record.js';

// The record crosses from C (bpf/sampler.h, compiled into the addon) to TypeScript
// (daemon/sampler/sample-record.ts): the two descriptions must agree field by field.
describe('sample record layout', () => {
  const addon = loadNativeAddon();

  it('has the same field offsets in C and TypeScript', () => {
    expect(addon.RECORD_LAYOUT).toEqual(RecordLayout);
  });

  it('has the same header size and version', () => {
    expect(addon.RECORD_HEADER_BYTES).toBe(RECORD_HEADER_BYTES);
    expect(addon.RECORD_VERSION).toBe(RECORD_VERSION);
  });
});
