import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAST_RESORT_EXIT_CODE } from '../../daemon/tail2d/last-resort.js';
import { repoRoot, testOutput } from '../helpers/fixtures.js';

// The handler of last resort, in a child process that fails for real (a throw from a timer, a
// rejection nobody handles) while a real capture pipeline has a capture in flight. tail2d installs
// the same handler with its own salvage (Tail2Daemon.salvage): no input from outside the daemon is
// known to reach an uncaught exception, so the fault is made here rather than through tail2d.

const victim = join(repoRoot, 'test', 'fixtures', 'last-resort-victim.mjs');
const scratch = join(testOutput, 'last-resort');

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function run(fault: 'throw' | 'reject' | 'hang'): Promise<{ code: number | null; signal: string | null; lines: Array<Record<string, unknown>>; stateDir: string; id: string }> {
  const stateDir = join(scratch, fault);
  rmSync(stateDir, { recursive: true, force: true });
  const child = spawn(process.execPath, [victim, stateDir, fault], { cwd: join(repoRoot, 'test', 'fixtures'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  const lines = stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const id = /^ready (\S+)$/m.exec(stdout)?.[1] ?? '';
  expect(id, `the victim never started:\n${stderr}`).not.toBe('');
  return { code, signal, lines, stateDir, id };
}

describe('the last-resort handler', () => {
  it.each(['throw', 'reject'] as const)('on an uncaught error (%s), logs it as fatal, writes the capture in flight and exits non-zero', async (fault) => {
    const { code, signal, lines, stateDir, id } = await run(fault);
    expect(signal).toBeNull();
    expect(code).toBe(LAST_RESORT_EXIT_CODE);
    const fatal = lines.find((line) => line.level === 60);
    expect(fatal?.msg).toMatch(/^uncaught error \((uncaughtException|unhandledRejection)\): writing the captures in flight/);
    expect((fatal?.err as { message?: string }).message).toBe(fault === 'throw' ? "Cannot read properties of undefined (reading 'pid')" : 'a rejection nobody handles');
    // The capture's window had 60 s to go: it was cut at the fault and written whole.
    const directory = join(stateDir, 'incidents', id);
    expect(readdirSync(directory)).toEqual(expect.arrayContaining(['incident.json', 'samples.json.gz', 'flamegraph.svg']));
    const record = JSON.parse(readFileSync(join(directory, 'incident.json'), 'utf8')) as { fired_at: string; window: { to: string; after_ms: number } };
    expect(Date.parse(record.window.to)).toBeLessThan(Date.parse(record.fired_at) + record.window.after_ms);
    expect(lines.map((line) => line.msg)).toContain('captures in flight written; exiting');
  });

  it('exits on its own when saving hangs', async () => {
    const { code, lines, stateDir, id } = await run('hang');
    expect(code).toBe(LAST_RESORT_EXIT_CODE);
    expect(lines.map((line) => line.msg)).toContain('saving the captures in flight took too long; exiting without them');
    expect(existsSync(join(stateDir, 'incidents', id))).toBe(false);
  });
});
