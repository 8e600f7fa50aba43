import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // BPF programs and perf events are a host-wide resource: files run one after another so two
    // samplers never compete for the same CPUs and the figures each test checks stay meaningful.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
