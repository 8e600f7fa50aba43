import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readableLine, syslogPriority } from '../../daemon/tail2d/log-destination.js';
import { freePort, tail2dPath } from '../helpers/daemon-process.js';
import { testOutput } from '../helpers/fixtures.js';

describe('tail2d logs', () => {
  it('prefixes each JSON line with its syslog priority when stderr is the journal', async () => {
    const dir = join(testOutput, 'logs-journal');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'rules.yaml'), 'rules: []\n');
    writeFileSync(join(dir, 'tail2.yaml'), `state_dir: state\nweb: { listen: "127.0.0.1:${await freePort()}" }\nrules_file: rules.yaml\n`);
    const logPath = join(dir, 'stderr.log');
    const fd = openSync(logPath, 'w');
    const { dev, ino } = fstatSync(fd);
    // systemd sets JOURNAL_STREAM to the device and inode of the stream it connected.
    const child = spawn(process.execPath, [tail2dPath, '--config', join(dir, 'tail2.yaml')], { stdio: ['ignore', 'ignore', fd], env: { ...process.env, JOURNAL_STREAM: `${dev}:${ino}` } });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await expect.poll(() => child.exitCode !== null || readFileSync(logPath, 'utf8').includes('tail2d started'), { timeout: 60_000, interval: 100 }).toBe(true);
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = readFileSync(logPath, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) {
      const match = /^<(\d)>(\{.*\})$/.exec(line);
      expect(match, line).not.toBeNull();
      const record = JSON.parse(match![2]) as { level: number; msg: string };
      expect(Number(match![1])).toBe(syslogPriority(match![2]));
      expect(typeof record.msg).toBe('string');
    }
    expect(lines.some((line) => line.startsWith('<6>') && line.includes('"msg":"tail2d started"'))).toBe(true);
    expect(lines.some((line) => line.includes('"msg":"tail2d stopped"'))).toBe(true);
  });

  it('maps pino levels to syslog priorities and formats lines for a terminal', () => {
    expect([60, 50, 40, 30, 20, 10].map((level) => syslogPriority(`{"level":${level},"msg":"x"}`))).toEqual([2, 3, 4, 6, 7, 7]);
    const line = readableLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 10, 25, 3, 4, 5, 678), pid: 1, hostname: 'h', name: 'tail2d', rule: 'db-spin', value: 0.97, msg: 'rule fired: capturing' }));
    expect(line).toBe('03:04:05.678 WARN  rule fired: capturing rule=db-spin value=0.97');
  });
});
