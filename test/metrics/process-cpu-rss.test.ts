import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { instanceKey, type MetricReading } from '../../daemon/model/metrics.js';
import { parseProcPidStat, ProcessCpuRss } from '../../daemon/metrics/process-cpu-rss.js';
import { openTaskIterator } from '../../daemon/metrics/task-iterator.js';
import { buildCFixture } from '../helpers/fixtures.js';
import { untilExecd } from '../helpers/process-state.js';

const MiB = 1024 * 1024;

/** A /proc/PID/stat line as the kernel writes it (52 fields), with the fields the collector reads set. */
function statLine(pid: number, comm: string, fields: { utime?: number; stime?: number; startTime?: number; rssPages?: number } = {}): string {
  // Fields 3.. of a real line from this machine (`cat /proc/self/stat`), then ours patched in.
  const rest = 'R 11664 11664 7283 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 491317 3133440 360 18446744073709551615 94319732867072 94319732886953 140730933736528 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94319732902960 94319732904576 94320282484736 140730933738016 140730933738036 140730933738036 140730933739499 0'.split(' ');
  const set = (field: number, value: number | undefined) => {
    if (value !== undefined) rest[field - 3] = String(value);
  };
  set(14, fields.utime);
  set(15, fields.stime);
  set(22, fields.startTime);
  set(24, fields.rssPages);
  return `${pid} (${comm}) ${rest.join(' ')}\n`;
}

function readingsFor(readings: MetricReading[], pid: number): Map<string, MetricReading> {
  const found = new Map<string, MetricReading>();
  for (const r of readings) if (r.instance.kind === 'process' && r.instance.pid === pid) found.set(r.metric, r);
  return found;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}

describe('parseProcPidStat', () => {
  it('reads a real line from this machine', () => {
    const stat = parseProcPidStat('11667 (cat) R 11664 11664 7283 0 -1 4194304 99 0 0 0 7 3 0 0 20 0 1 0 491317 3133440 360 18446744073709551615 94319732867072 0\n');
    expect(stat).toEqual({ comm: 'cat', startTime: 491317, cpuTicks: 10, rssPages: 360 });
  });

  it('parses a comm holding spaces and parentheses from the last ")"', () => {
    const stat = parseProcPidStat(statLine(4242, 'a) b (c) d', { utime: 5, stime: 2, startTime: 777, rssPages: 12 }));
    expect(stat).toEqual({ comm: 'a) b (c) d', startTime: 777, cpuTicks: 7, rssPages: 12 });
    expect(parseProcPidStat(statLine(1, ') ) )', { startTime: 3 })).comm).toBe(') ) )');
    expect(parseProcPidStat(statLine(1, '', { startTime: 3 })).comm).toBe('');
  });

  it('refuses a truncated line', () => {
    expect(() => parseProcPidStat('4242 (x) R 1 2 3')).toThrow(/not a \/proc\/PID\/stat line/);
  });
});

describe('ProcessCpuRss on recorded stat text', () => {
  const tracker = () => new ProcessCpuRss({ readCmdline: (pid) => `/bin/fixture ${pid}`, pageSize: 4096, procRoot: '/nonexistent' });
  const feed = (t: ProcessCpuRss, text: string, atMs: number) => {
    const out: MetricReading[] = [];
    const bytes = Buffer.from(text);
    t.ingest(Number(text.slice(0, text.indexOf(' '))), bytes, bytes.length, atMs, atMs, out);
    return out;
  };

  it('reports no cpu on first sight, then the tick delta over the interval, in cores', () => {
    const t = tracker();
    t.beginRound();
    const first = feed(t, statLine(4242, 'worker', { utime: 1000, stime: 500, startTime: 100, rssPages: 256 }), 10_000);
    expect(first.map((r) => r.metric)).toEqual(['rss']);
    expect(first[0].value).toBe(256 * 4096);
    // 150 ticks (1.5 s of CPU at USER_HZ 100) over 2 s: 0.75 of a core. A lifetime average would be 15 / (start..now).
    const second = feed(t, statLine(4242, 'worker', { utime: 1100, stime: 550, startTime: 100, rssPages: 300 }), 12_000);
    expect(second.find((r) => r.metric === 'cpu')?.value).toBeCloseTo(0.75, 6);
    expect(second.find((r) => r.metric === 'rss')?.value).toBe(300 * 4096);
  });

  it('makes a reused pid a new instance with no cpu reading', () => {
    const t = tracker();
    t.beginRound();
    const old = feed(t, statLine(4242, 'old', { utime: 100, startTime: 100 }), 0);
    feed(t, statLine(4242, 'old', { utime: 200, startTime: 100 }), 1000);
    // pid 4242 exited and was given to a new process (another start time), with fewer ticks.
    const reused = feed(t, statLine(4242, 'new', { utime: 3, startTime: 5000 }), 2000);
    expect(reused.map((r) => r.metric)).toEqual(['rss']);
    expect(instanceKey(reused[0].instance)).not.toBe(instanceKey(old[0].instance));
    expect(reused[0].instance).toMatchObject({ pid: 4242, startTime: 5000, comm: 'new' });
    const next = feed(t, statLine(4242, 'new', { utime: 53, startTime: 5000 }), 3000);
    expect(next.find((r) => r.metric === 'cpu')?.value).toBeCloseTo(0.5, 6);
  });

  it('keeps the key across exec but takes the new comm and command line', () => {
    let cmdline = 'sh -c x';
    const t = new ProcessCpuRss({ readCmdline: () => cmdline, pageSize: 4096, procRoot: '/nonexistent' });
    t.beginRound();
    const before = feed(t, statLine(7, 'sh', { startTime: 9 }), 0);
    cmdline = '/usr/bin/x --flag';
    const after = feed(t, statLine(7, 'x', { startTime: 9 }), 1000);
    expect(instanceKey(after[0].instance)).toBe(instanceKey(before[0].instance));
    expect(after[0].instance).toMatchObject({ comm: 'x', cmdline: '/usr/bin/x --flag' });
  });

  it('forgets processes not seen in a round', () => {
    const t = tracker();
    const round = t.beginRound();
    feed(t, statLine(1, 'a', { startTime: 1 }), 0);
    feed(t, statLine(2, 'b', { startTime: 1 }), 0);
    t.endRound(round);
    expect(t.size).toBe(2);
    const next = t.beginRound();
    feed(t, statLine(2, 'b', { startTime: 1 }), 1000);
    t.endRound(next);
    expect(t.size).toBe(1);
  });
});

// Each source of the collector, opened fresh: /proc/PID/stat files, or the BPF task iterator.
function openSource(source: 'proc' | 'task-iterator'): ProcessCpuRss {
  if (source === 'proc') return new ProcessCpuRss();
  const opened = openTaskIterator();
  if ('reason' in opened) throw new Error(opened.reason);
  return new ProcessCpuRss({ taskStats: opened.stats });
}

describe.each(['proc', 'task-iterator'] as const)('ProcessCpuRss on this machine, from %s', (source) => {
  it('reads a pinned burner at about one core and an idle sleep at about zero; a new process has no cpu reading at first', async () => {
    // At nice -10, so the other work on this shared VM's CPU 0 cannot starve it below one core.
    const burner = spawn('nice', ['-n', '-10', 'taskset', '-c', '0', buildCFixture('burner'), '0'], { stdio: 'ignore' });
    const collector = openSource(source);
    expect(collector.source).toBe(source);
    let idle: ChildProcess | undefined;
    try {
      await sleep(300);
      collector.collect(Date.now());
      idle = spawn('sleep', ['60'], { stdio: 'ignore' });
      await untilExecd(idle.pid!, 'sleep');
      const firstSight = readingsFor(collector.collect(Date.now()), idle.pid!);
      expect(firstSight.has('rss')).toBe(true);
      expect(firstSight.has('cpu')).toBe(false);

      const burnerCores: number[] = [];
      const idleCores: number[] = [];
      for (let round = 0; round < 3; round++) {
        await sleep(1000);
        const readings = collector.collect(Date.now());
        burnerCores.push(readingsFor(readings, burner.pid!).get('cpu')!.value);
        idleCores.push(readingsFor(readings, idle.pid!).get('cpu')!.value);
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
      expect(median(burnerCores)).toBeGreaterThan(0.6);
      expect(median(burnerCores)).toBeLessThan(1.1);
      expect(Math.max(...idleCores)).toBeLessThan(0.02);
      const instance = readingsFor(collector.collect(Date.now()), burner.pid!).get('rss')!.instance;
      expect(instance).toMatchObject({ kind: 'process', comm: 'burner' });
      expect(instance.kind === 'process' && instance.cmdline).toMatch(/burner 0$/);
    } finally {
      await exited(burner);
      if (idle) await exited(idle);
      collector.close();
    }
  });

  it('reads the rss of a process that touched 200 MiB as at least 200 MiB, and forgets it when it exits', async () => {
    const hog = spawn(buildCFixture('leaker'), ['0', '200'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const collector = openSource(source);
    try {
      await new Promise<void>((resolve, reject) => {
        hog.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        hog.on('error', reject);
        hog.on('exit', () => reject(new Error('leaker exited early')));
      });
      const rss = readingsFor(collector.collect(Date.now()), hog.pid!).get('rss')!.value;
      expect(rss).toBeGreaterThanOrEqual(200 * MiB);
      expect(rss).toBeLessThan(260 * MiB);
      await exited(hog);
      const after = collector.collect(Date.now());
      expect(readingsFor(after, hog.pid!).size).toBe(0);
      expect(collector.size).toBe(new Set(after.map((r) => instanceKey(r.instance))).size);
    } finally {
      await exited(hog);
      collector.close();
    }
  });
});

describe('ProcessCpuRss from the BPF task iterator against /proc', () => {
  it('knows every process /proc lists, by the same key and name', () => {
    const iterator = openSource('task-iterator');
    const proc = openSource('proc');
    try {
      const fromIterator = new Map(iterator.collect(Date.now()).filter((r) => r.metric === 'rss').map((r) => [instanceKey(r.instance), r]));
      const fromProc = proc.collect(Date.now()).filter((r) => r.metric === 'rss');
      expect(fromProc.length).toBeGreaterThan(20);
      let missing = 0;
      for (const reading of fromProc) {
        const same = fromIterator.get(instanceKey(reading.instance));
        if (!same) {
          missing++; // started or exited between the two reads
          continue;
        }
        const comm = reading.instance.kind === 'process' ? reading.instance.comm : '';
        // /proc names a kernel worker after its workqueue too ("kworker/0:1-events"); the task's comm is "kworker/0:1".
        expect(comm.startsWith(same.instance.kind === 'process' ? same.instance.comm : '?')).toBe(true);
      }
      expect(missing).toBeLessThan(5);
      const self = [...fromIterator.values()].find((r) => r.instance.kind === 'process' && r.instance.pid === process.pid);
      expect(self?.instance).toMatchObject({ comm: 'node' });
      expect(self!.value).toBeGreaterThan(20 * MiB);
    } finally {
      iterator.close();
      proc.close();
    }
  });

  it("counts the CPU of threads that already exited, and agrees with /proc within 2 points of a core", async () => {
    // Every 50 ms a new thread spins and exits: nearly all of this process's CPU is of dead threads.
    const churner = spawn('nice', ['-n', '-10', buildCFixture('thread-burner', ['-pthread']), '0'], { stdio: 'ignore' });
    const iterator = openSource('task-iterator');
    const proc = openSource('proc');
    try {
      await untilExecd(churner.pid!, 'thread-burner');
      iterator.collect(Date.now());
      proc.collect(Date.now());
      const pairs: [number, number][] = [];
      for (let round = 0; round < 4; round++) {
        await sleep(1000);
        const a = readingsFor(iterator.collect(Date.now()), churner.pid!).get('cpu')!.value;
        const b = readingsFor(proc.collect(Date.now()), churner.pid!).get('cpu')!.value;
        pairs.push([a, b]);
      }
      const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1];
      // A live thread of it runs 50 ms at most: past 0.15 of a core, the exited threads are counted.
      expect(median(pairs.map(([a]) => a))).toBeGreaterThan(0.15);
      // Over the same rounds, read microseconds apart: /proc's ticks are 10 ms, one point of a core a second.
      const total = (i: 0 | 1) => pairs.reduce((sum, pair) => sum + pair[i], 0) / pairs.length;
      expect(Math.abs(total(0) - total(1))).toBeLessThan(0.02);
    } finally {
      await exited(churner);
      iterator.close();
      proc.close();
    }
  });
});
