// tail2d among hostile local users: an unprivileged process whose perf map is a FIFO, or a symlink
// to /etc/shadow, while captures are taken. The daemon must keep answering, write the incident,
// and put no byte of another file into it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../helpers/daemon-process.js';
import { runCli } from '../helpers/fixtures.js';
import { untilRanFor } from '../helpers/process-state.js';

const running: RunningDaemon[] = [];
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

afterAll(async () => {
  for (const d of running) await d.stop('SIGKILL');
});

/** A JavaScript busy loop run by `nobody`, its perf map prepared by `prepare` (shell, as nobody). */
function hostileNode(prepare: string): ChildProcess {
  const script = `cd /tmp && ${prepare} && exec "${process.execPath}" -e 'for (;;) {}'`;
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', script], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** Polls /healthz while `work` runs; returns how many checks were answered and how many were not. */
async function healthDuring<T>(d: RunningDaemon, work: Promise<T>): Promise<{ value: T; answered: number; unanswered: number }> {
  let done = false;
  let answered = 0;
  let unanswered = 0;
  const polling = (async () => {
    while (!done) {
      const ok = await fetch(`${d.baseUrl}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) answered++;
      else unanswered++;
      await sleep(100);
    }
  })();
  const value = await work;
  done = true;
  await polling;
  return { value, answered, unanswered };
}

async function capture(d: RunningDaemon): Promise<string> {
  const response = await fetch(`${d.baseUrl}/api/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: '5s', after: '1s', reason: 'hostile test' }) });
  expect(response.status).toBe(202);
  const { id } = (await response.json()) as { id: string };
  await d.waitFor('the incident on disk', async () => ((await fetch(`${d.baseUrl}/api/incidents/${id}`)).ok ? true : undefined));
  return id;
}

describe('tail2d among hostile processes', () => {
  it('keeps answering and writes the incident when a perf map is a FIFO', async () => {
    const d = await startDaemon('hostile-fifo', 'rules: []\n');
    running.push(d);
    const child = hostileNode('rm -f /tmp/perf-$$.map && mkfifo /tmp/perf-$$.map');
    try {
      await untilRanFor(child.pid!, 'node', 2); // sampled for a while
      const { value: id, unanswered } = await healthDuring(d, capture(d));
      expect(unanswered).toBe(0);
      const record = await d.get<{ profile: { samples: number } }>(`/api/incidents/${id}`);
      expect(record.profile.samples).toBeGreaterThan(0);
      const status = await d.status();
      expect(status.symbols.problems.counts.ENOTREG).toBeGreaterThanOrEqual(1);
      expect(status.symbols.problems.recent.some((p) => p.code === 'ENOTREG' && p.file.includes(`perf-${child.pid}.map`))).toBe(true);
      // Refused at once: no reader waited on the FIFO until its budget ran out.
      expect(status.symbols.readers.every((r) => r.timeouts === 0 && r.crashes === 0)).toBe(true);
      // `tail2 status` says so too, for a person.
      const cli = await runCli(['status', '--url', d.baseUrl]);
      expect(cli.stdout).toMatch(/symbols: .*ENOTREG/);
      expect(cli.stdout).toContain(`/tmp/perf-${child.pid}.map (pid ${child.pid}): ENOTREG`);
      // And the status page.
      const page = await (await fetch(`${d.baseUrl}/status`)).text();
      expect(page).toContain('id="status-symbols"');
      expect(page).toMatch(new RegExp(`perf-${child.pid}\\.map \\(pid ${child.pid}\\)</td><td>ENOTREG`));
      // And a second capture is no different (every capture used to block again).
      const { unanswered: again } = await healthDuring(d, capture(d));
      expect(again).toBe(0);
    } finally {
      rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
    }
  });

  it('puts no byte of /etc/shadow into an incident when a perf map links to it', async () => {
    const d = await startDaemon('hostile-shadow', 'rules: []\n');
    running.push(d);
    const child = hostileNode('rm -f /tmp/perf-$$.map && ln -s /etc/shadow /tmp/perf-$$.map');
    try {
      await untilRanFor(child.pid!, 'node', 2);
      const id = await capture(d);
      const dir = join(d.dir, 'state', 'incidents', id);
      const secrets = readFileSync('/etc/shadow', 'utf8')
        .split('\n')
        .filter((line) => line.includes(':'))
        .map((line) => line.split(':').slice(0, 2).join(':'));
      expect(secrets.length).toBeGreaterThan(0);
      for (const file of readdirSync(dir).filter((f) => !f.endsWith('.gz') && !f.endsWith('.png'))) {
        const text = readFileSync(join(dir, file), 'latin1');
        for (const secret of secrets) expect(text.includes(secret), `${file} holds a line of /etc/shadow`).toBe(false);
      }
      for (const secret of secrets) expect(d.log().includes(secret)).toBe(false);
      const status = await d.status();
      expect(status.symbols.problems.recent.some((p) => p.file.includes(`perf-${child.pid}.map`) && p.code === 'ELOOP')).toBe(true);
    } finally {
      rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
    }
  });
});
