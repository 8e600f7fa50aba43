// The BPF verifier gives up with EAGAIN whenever a signal is pending for the loading thread. Under
// a profiler (`node --cpu-prof` sends SIGPROF every sampling interval) every load used to fail;
// the sampler and the task iterator now hold signals back while they load.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/fixture-programs.js';

describe('loading BPF programs while signals keep arriving', () => {
  it('loads the sampler (with unwind tables) and the task iterator in a process profiled every 50 µs', () => {
    const profiles = mkdtempSync(join(tmpdir(), 'tail2-sigprof-'));
    const addon = join(repoRoot, 'native', 'build', 'Release', 'tail2_native.node');
    const script = `
      const addon = require(${JSON.stringify(addon)});
      const loaded = [];
      for (let i = 0; i < 3; i++) {
        const sampler = new addon.Sampler({ frequency: 49, unwindTables: true, unwindRows: 1024, unwindMappings: 64, unwindProcesses: 64, onBatch: () => {} });
        sampler.start();
        sampler.stop();
        const tasks = new addon.TaskStats();
        loaded.push(tasks.read().count);
        tasks.close();
      }
      console.log(JSON.stringify(loaded));`;
    try {
      const out = execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', profiles, '-e', script], { encoding: 'utf8' });
      const counts = JSON.parse(out.trim()) as number[];
      expect(counts).toHaveLength(3);
      for (const count of counts) expect(count).toBeGreaterThan(10);
    } finally {
      rmSync(profiles, { recursive: true, force: true });
    }
  });
});
