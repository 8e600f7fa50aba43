import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Recording } from '../../daemon/profile/recording.js';
import { StackSampler } from '../../daemon/sampler/stack-sampler.js';
import { ProcessFiles } from '../../daemon/symbols/process-files.js';
import type { ProcessSnapshot } from '../../daemon/symbols/proc-maps.js';
import { processAlive } from '../../daemon/unwind/process-alive.js';
import { UnwindTables } from '../../daemon/unwind/unwind-tables.js';
import { UnwindLoader } from '../../daemon/unwind/unwind-loader.js';
import type { UnwindCapacities } from '../../daemon/unwind/unwind-budget.js';
import { parseFolded } from '../../daemon/formats/folded.js';
import { buildCFixture, runCli, testOutput } from '../helpers/fixtures.js';
import { untilExecd } from '../helpers/process-state.js';

// The unwind loader against the real BPF maps: processes come and go, memory runs out.

interface Session {
  sampler: StackSampler;
  loader: UnwindLoader;
  files: ProcessFiles;
  recording: Recording;
}

const open: Session[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const session of open.splice(0)) {
    session.loader.close();
    await session.sampler.stop();
    session.files.close();
  }
});

/** A sampler with tables; `only` limits which processes the loader learns (all by default). */
function startSession(capacity: UnwindCapacities, frequency = 99, only: (pid: number) => boolean = () => true): Session {
  const files = new ProcessFiles();
  // The loader needs the running sampler's maps; the recording needs somewhere to send events first.
  const late: { loader?: UnwindLoader } = {};
  const recording = new Recording(undefined, {
    tablesWanted: (p, start, unknownMapping) => (only(p) ? late.loader?.tablesWanted(p, start, unknownMapping) : undefined),
    gone: (p, start) => late.loader?.gone(p, start),
  });
  const sampler = new StackSampler({ frequency, unwind: capacity, batchIntervalMs: 100, onBatch: (batch) => recording.ingest(batch) });
  sampler.start();
  const loader = new UnwindLoader({ maps: sampler.unwindMaps()!, tables: new UnwindTables({ files }), snapshot: (p, start) => files.snapshot(p, start), alive: processAlive });
  late.loader = loader;
  const session = { sampler, loader, files, recording };
  open.push(session);
  return session;
}

/** The entries of the newest sampler's unwind_processes map (the kernel cuts map names at 15 bytes). */
function processEntries(): Array<{ pid: number; startTimeNs: bigint }> {
  const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  const ids = maps.filter((m) => m.name === 'unwind_processe').map((m) => m.id);
  expect(ids.length).toBeGreaterThan(0);
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'id', String(Math.max(...ids))], { encoding: 'utf8' })) as Array<{ key: string[]; value: string[] }>;
  const bytes = (hex: string[]) => Buffer.from(hex.map((h) => Number.parseInt(h, 16)));
  return dump.map((entry) => ({ pid: bytes(entry.key).readUInt32LE(0), startTimeNs: bytes(entry.value).readBigUInt64LE(0) }));
}

const spinning = (binary: string) => {
  const child = spawn(binary, ['60'], { stdio: 'ignore' });
  children.push(child);
  return child;
};

describe('unwind tables of processes', () => {
  it('leaves no entry of a process that is gone through 10,000 fork/exec/exit cycles', async () => {
    // At 999 Hz many of the short-lived processes are sampled, so learned (or caught exiting
    // while being learned): every path by which an entry is added or freed is taken.
    const session = startSession({ rows: 1 << 20, mappings: 1 << 14, processes: 4096 }, 999);
    const burner = spinning(buildCFixture('burner'));
    const storm = spawn('/bin/sh', ['-c', 'i=0; while [ $i -lt 10000 ]; do /bin/true; i=$((i+1)); done'], { stdio: 'ignore' });
    const stormDone = new Promise((resolve) => storm.on('exit', resolve));
    await stormDone;
    await session.sampler.flush();
    await session.loader.idle();
    // The burner is sampled all along: learned even if the storm filled the queue when it asked.
    await expect.poll(() => session.loader.knows(burner.pid!), { timeout: 30_000 }).toBe(true);
    session.loader.sweep(processAlive);
    const status = session.loader.status();
    expect(status.learned, JSON.stringify(status)).toBeGreaterThan(0);
    const entries = processEntries();
    // Every entry left is a process that still runs as the one it was learned for (the burner,
    // this test runner, whatever else the host runs), and the loader knows exactly those.
    expect(entries.filter((e) => !processAlive(e.pid, e.startTimeNs))).toEqual([]);
    expect(entries.length).toBe(status.processes);
    expect(entries.some((e) => e.pid === burner.pid)).toBe(true);
    expect(session.sampler.stats()!.exits).toBeGreaterThan(0);
  });

  it('walks by frame pointer the files whose table does not fit, and makes room from tables nobody uses', async () => {
    const burnerPath = buildCFixture('burner');
    const syscallerPath = buildCFixture('syscaller');
    // Rows for the C library, the dynamic loader, the vDSO and one of the two fixtures, not both.
    const files = new ProcessFiles();
    const rowsOf = async (binary: string) => {
      const child = spinning(binary);
      await untilExecd(child.pid!, basename(binary));
      // Past the dynamic loader: libc is mapped.
      const withLibc = async () => {
        const taken = await files.snapshot(child.pid!);
        return taken?.mappings.some((m) => m.path.includes('/libc.so')) ? taken : undefined;
      };
      await expect.poll(withLibc, { timeout: 20_000 }).toBeDefined();
      const snapshot = (await withLibc()) as ProcessSnapshot;
      const rows = new Map<string, number>();
      for (const mapping of snapshot.mappings.filter((m) => m.inode !== 0)) {
        const table = await files.unwindTable(snapshot, mapping);
        if (table) rows.set(mapping.path, table.rows.byteLength / 8);
      }
      child.kill('SIGKILL');
      return rows;
    };
    const burnerRows = await rowsOf(burnerPath);
    const syscallerRows = await rowsOf(syscallerPath);
    // Every process maps the vDSO too.
    burnerRows.set('[vdso]', ((await files.vdsoUnwindTable())?.rows.byteLength ?? 0) / 8);
    files.close();
    expect(syscallerRows.get(syscallerPath)).toBeGreaterThan(1);
    const shared = [...burnerRows].filter(([path]) => path !== burnerPath).reduce((sum, [, n]) => sum + n, 0);
    const capacity = shared + Math.max(burnerRows.get(burnerPath)!, syscallerRows.get(syscallerPath)!) + 1;

    const ours = new Set<number>();
    const session = startSession({ rows: capacity, mappings: 1024, processes: 64 }, 99, (pid) => ours.has(pid));
    // Polls until the loader knows `pid` (or not), saying what the loader did when it does not.
    const untilKnown = (pid: number, known = true) =>
      vi.waitFor(
        () => {
          if (session.loader.knows(pid) !== known) throw new Error(`pid ${pid} ${known ? 'not learned' : 'still known'}; loader: ${JSON.stringify(session.loader.status())}`);
        },
        { timeout: 30_000, interval: 50 },
      );
    const spinningOurs = (binary: string) => {
      const child = spinning(binary);
      ours.add(child.pid!);
      return child;
    };
    const first = spinningOurs(burnerPath);
    await untilKnown(first.pid!);
    // Gone: its own table is used by nobody now, and the next fixture's needs its rows.
    first.kill('SIGKILL');
    await untilKnown(first.pid!, false);
    const second = spinningOurs(syscallerPath);
    await untilKnown(second.pid!);
    expect(session.loader.status()).toMatchObject({ filesEvicted: 1, filesWithoutRoom: 0 });

    // A third binary finds no table it could drop (the second's are in use): frame pointers.
    const third = spinningOurs(burnerPath);
    await untilKnown(third.pid!);
    expect(session.loader.status().filesWithoutRoom).toBe(1);
    // Another process of the same binary, and any re-read of the third's mappings: the same file,
    // still counted once.
    const fourth = spinningOurs(burnerPath);
    await untilKnown(fourth.pid!);
    expect(session.loader.status().filesWithoutRoom).toBe(1);
    await sleep(500);
    expect(session.sampler.stats()!.walksFramePointer).toBeGreaterThan(0);
  });
});

describe('a stack deeper than the walk goes', () => {
  it('is cut at 255 frames, counted, and says so at its root', async () => {
    const binary = buildCFixture('deep-recursion');
    const child = spawn(binary, ['400'], { stdio: 'ignore' });
    children.push(child);
    const out = join(testOutput, 'unwind');
    mkdirSync(out, { recursive: true });
    const result = await runCli(['record', '-d', '2s', '--pid', String(child.pid), '-o', join(out, 'deep.folded')]);
    expect(result.code, result.stderr).toBe(0);
    const folded = parseFolded(readFileSync(join(out, 'deep.folded'), 'utf8'));
    let total = 0;
    let truncated = 0;
    for (const [path, count] of folded) {
      total += count;
      // comm, the marker, then exactly 255 user frames ending at the spinning leaf; a tick that
      // caught the process in the kernel (returning from an interrupt) has kernel frames above
      // them, more of them on a busy host.
      const frames = path.split(';');
      while (frames.length > 0 && frames.at(-1)!.endsWith('_[k]')) frames.pop();
      if (frames[1] === '[stack truncated: deeper than 255 frames]' && frames.length === 257 && frames.at(-1) === 'spin_at_the_bottom') truncated += count;
    }
    expect(total).toBeGreaterThan(50);
    expect(truncated / total).toBeGreaterThanOrEqual(0.99);
  });
});
