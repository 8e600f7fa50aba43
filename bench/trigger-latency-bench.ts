import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { tail2dCommand } from '../harness/daemon-command.js';
import { buildCFixture } from '../harness/fixture-programs.js';

export interface TriggerLatencyResult {
  afterMs: number;
  /** For each firing: ms from the end of the `after` window to the incident written. */
  beyondAfterMs: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/**
 * Trigger sustained → incident on disk: tail2d with a `cpu above 50% for 2s` rule on a burner
 * fixture; each of `firings` burners (a new process, so cooldown does not apply) fires once. The
 * daemon's own log gives the firing time and the write time; the figure is how long after
 * `t + after` the incident was on disk (target ≤ 1 s).
 */
export async function runTriggerLatencyBench(firings = 3): Promise<TriggerLatencyResult> {
  const burner = buildCFixture('burner');
  const dir = mkdtempSync(join(tmpdir(), 'tail2-latency-'));
  const afterMs = 2000;
  writeFileSync(
    join(dir, 'rules.yaml'),
    `rules:\n  - name: spin\n    metric: cpu\n    scope: { process: "^burner$" }\n    above: 50%\n    for: 2s\n    capture: { before: 10s, after: ${afterMs / 1000}s }\n`,
  );
  writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${await freePort()}" }\nrules_file: rules.yaml\n`);
  const [node, ...daemonArgs] = tail2dCommand(join(dir, 'tail2.yaml'));
  const daemon = spawn(node, daemonArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  const fired: number[] = [];
  const written: number[] = [];
  let pending = '';
  daemon.stderr.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as { msg: string; time: number };
        if (entry.msg === 'rule fired: capturing') fired.push(entry.time);
        if (entry.msg === 'incident written') written.push(entry.time);
      } catch {
        // not a log line
      }
    }
  });
  try {
    await sleep(3000);
    for (let i = 0; i < firings; i++) {
      const child = spawn(burner, ['0'], { stdio: 'ignore' });
      const deadline = Date.now() + 60_000;
      while (written.length <= i && Date.now() < deadline) await sleep(50);
      child.kill('SIGKILL');
      await sleep(500);
    }
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((resolve) => daemon.on('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
  return { afterMs, beyondAfterMs: written.map((time, i) => time - (fired[i] + afterMs)) };
}
