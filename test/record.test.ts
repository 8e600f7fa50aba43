import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Profile } from 'pprof-format';
import { parseFolded } from '../daemon/formats/folded.js';
import { parseProcStat } from '../daemon/metrics/proc-stat.js';
import { buildCFixture, fixtureSources, runCli, startCli, startFixture, testOutput } from './helpers/fixtures.js';
import { untilExecd } from './helpers/process-state.js';

// `tail2 record` end to end: the real CLI, real BPF programs in this kernel, real fixture processes.
const out = join(testOutput, 'record');

/** The file's text, or '' while it does not exist. */
function readIfExists(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Sum of counts of folded lines whose path starts with `prefix`. */
function samplesWhere(folded: Map<string, number>, test: (path: string) => boolean): number {
  let total = 0;
  for (const [path, count] of folded) if (test(path)) total += count;
  return total;
}

describe('tail2 record', () => {
  let burner: string;
  let syscaller: string;

  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    burner = buildCFixture('burner');
    syscaller = buildCFixture('syscaller');
  });

  afterAll(() => {
    // Detaching must leave no program behind.
    expect(execFileSync('bpftool', ['prog', 'show']).toString()).not.toContain('sample_stack');
  });

  it('attributes a CPU burner to leaf_spin with its whole call chain (--pid)', async () => {
    const child = startFixture(burner, ['0']);
    try {
      const result = await runCli(['record', '--duration', '3s', '--pid', String(child.pid), '-o', join(out, 'burner.folded')]);
      expect(result.stderr).toContain('wrote');
      expect(result.code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const folded = parseFolded(readFileSync(join(out, 'burner.folded'), 'utf8'));
    const total = samplesWhere(folded, () => true);
    expect(total).toBeGreaterThan(100); // ~99 Hz for 3 s on one busy CPU
    const inLeaf = samplesWhere(folded, (path) => /^burner;.*main;outer;middle;leaf_spin$/.test(path));
    expect(inLeaf / total).toBeGreaterThanOrEqual(0.9);
    // Only the chosen process is in the profile.
    expect([...folded.keys()].every((path) => path.startsWith('burner;'))).toBe(true);
  });

  it('shows kernel frames under the user frames of a syscall-heavy process (--process)', async () => {
    const child = startFixture(syscaller, ['10']);
    try {
      const result = await runCli(['record', '-d', '3s', '--process', '^syscaller$', '-o', join(out, 'syscaller.folded')]);
      expect(result.code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    const folded = parseFolded(readFileSync(join(out, 'syscaller.folded'), 'utf8'));
    const paths = [...folded.keys()];
    expect(paths.length).toBeGreaterThan(0);
    expect(paths.every((path) => path.startsWith('syscaller;'))).toBe(true);
    // A kernel frame (suffix _[k]) follows user frames: user first, kernel on top.
    const withKernel = paths.filter((path) => /^syscaller;_start;__libc_start_main[^;]*;__libc_start_call_main;main;.*;[^;]+_\[k\]$/.test(path));
    expect(withKernel.length).toBeGreaterThan(0);
    expect(paths.some((path) => /(ksys_write|vfs_write|do_syscall_64)_\[k\]/.test(path))).toBe(true);
  });

  it('names the JavaScript functions of a Node.js process run with --perf-basic-prof', async () => {
    const child = startFixture(process.execPath, ['--perf-basic-prof', join(fixtureSources, 'js-burner.js'), '10']);
    try {
      // V8 has compiled the hot function once it names it in the perf map.
      await expect.poll(() => readIfExists(`/tmp/perf-${child.pid}.map`), { timeout: 30_000 }).toContain('tail2HotJavaScriptFunction');
      const result = await runCli(['record', '-d', '3s', '--pid', String(child.pid), '-o', join(out, 'node.folded')]);
      expect(result.code).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
    }
    const folded = parseFolded(readFileSync(join(out, 'node.folded'), 'utf8'));
    const total = samplesWhere(folded, () => true);
    const hot = samplesWhere(folded, (path) => /tail2HotJavaScriptFunction[^;]*_\[j\]/.test(path));
    expect(hot / total).toBeGreaterThan(0.5);
  });

  it('symbolizes a process that exited before the recording ended', async () => {
    // It burns for 2 s of a 4 s recording: gone well before the recording ends and is symbolized.
    const child = startFixture(burner, ['2']);
    const result = await runCli(['record', '-d', '4s', '--process', '^burner$', '-o', join(out, 'exited.folded')]);
    expect(result.code).toBe(0);
    expect(child.exitCode ?? child.signalCode).not.toBeNull(); // it was gone before symbolization
    const folded = parseFolded(readFileSync(join(out, 'exited.folded'), 'utf8'));
    const total = samplesWhere(folded, () => true);
    expect(total).toBeGreaterThan(10);
    expect(samplesWhere(folded, (path) => path.endsWith('main;outer;middle;leaf_spin')) / total).toBeGreaterThanOrEqual(0.9);
  });

  it('symbolizes a process started during the recording that lived shorter than one batch', async () => {
    const recorder = startCli(['record', '-d', '3s', '--process', '^burner$', '-o', join(out, 'short-lived.folded')]);
    await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('sampling');
    const child = startFixture(burner, ['0.4']);
    await new Promise((resolve) => child.on('exit', resolve));
    const result = await recorder.done;
    expect(result.code, result.stderr).toBe(0);
    const folded = parseFolded(readFileSync(join(out, 'short-lived.folded'), 'utf8'));
    // Its samples in user code resolve completely, the C library (mapped by the dynamic loader
    // after the exec) included. A few samples inside execve itself have no user frames to check,
    // and its first samples, before its tables are loaded, are frame-pointer walks that stop
    // above _start: both kinds name libc's frame under main.
    const inLeaf = samplesWhere(folded, (path) => path.includes(';__libc_start_call_main;main;outer;middle;leaf_spin'));
    const inMain = samplesWhere(folded, (path) => /;main(;|$)/.test(path));
    const inMainWithLibc = samplesWhere(folded, (path) => path.startsWith('burner;') && path.includes(';__libc_start_call_main;main'));
    expect(inLeaf).toBeGreaterThan(10);
    expect(inMainWithLibc).toBe(inMain);
  });

  it('symbolizes a process whose binary exists only in its own mount namespace', async () => {
    // The binary sits on a tmpfs mounted inside a private mount namespace: from tail2's namespace
    // the path is an empty directory, so only /proc/PID/root reaches the file.
    const hidden = join(out, 'hidden-mount');
    mkdirSync(hidden, { recursive: true });
    const script = `mount -t tmpfs tmpfs ${hidden} && cp ${burner} ${hidden}/nsburner && exec ${hidden}/nsburner 0`;
    const child = startFixture('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
    try {
      await untilExecd(child.pid!, 'nsburner');
      const result = await runCli(['record', '-d', '2s', '--process', '^nsburner$', '-o', join(out, 'namespace.folded')]);
      expect(result.code, result.stderr).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(existsSync(join(hidden, 'nsburner'))).toBe(false);
    const folded = parseFolded(readFileSync(join(out, 'namespace.folded'), 'utf8'));
    const total = samplesWhere(folded, () => true);
    expect(total).toBeGreaterThan(50);
    expect(samplesWhere(folded, (path) => path.endsWith('main;outer;middle;leaf_spin')) / total).toBeGreaterThanOrEqual(0.9);
  });

  it('profiles page faults in bytes (--profile page_faults): the code that made a leaking process\'s memory resident', async () => {
    // Grows 40 MiB/s, every page written in touch(); one sample per 64 faults (256 KiB).
    const child = startFixture(buildCFixture('leaker'), ['40', '4000']);
    const resident = () => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) * 1024;
    let grown: number;
    try {
      await sleep(300);
      const before = resident();
      const folded = await runCli(['record', '--profile', 'page_faults', '--period', '64', '-d', '3s', '--pid', String(child.pid), '-o', join(out, 'faults.folded')]);
      grown = resident() - before;
      expect(folded.code, folded.stderr).toBe(0);
      expect(folded.stderr).toMatch(/for page faults, one sample per 64 faults/);
      expect(folded.stderr).toMatch(/wrote .*faults\.folded: \d+ samples \([\d.]+ MiB of page faults\)/);
      const pprof = await runCli(['record', '--profile', 'page_faults', '-d', '1s', '--pid', String(child.pid), '-o', join(out, 'faults.pb.gz')]);
      expect(pprof.code, pprof.stderr).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    // The weights are bytes: what the recording saw is what the process grew by (the record's
    // start-up and the reads of VmRSS fall on either side of the sampled window).
    const folded = parseFolded(readFileSync(join(out, 'faults.folded'), 'utf8'));
    const bytes = samplesWhere(folded, () => true);
    expect(bytes).toBeGreaterThan(40 * 1024 ** 2);
    expect(bytes).toBeLessThanOrEqual(grown * 1.05);
    expect(samplesWhere(folded, (path) => path.split(';').includes('touch')) / bytes).toBeGreaterThanOrEqual(0.9);
    // pprof: samples and bytes, as its sample types say.
    const decoded = Profile.decode(gunzipSync(readFileSync(join(out, 'faults.pb.gz'))));
    const strings = decoded.stringTable.strings;
    expect(decoded.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`)).toEqual(['samples/count', 'page_faults/bytes']);
    // Each sample of the default period weighs 256 pages.
    const pageBytes = Number(execFileSync('getconf', ['PAGESIZE']).toString().trim());
    expect(decoded.sample.length).toBeGreaterThan(0);
    for (const sample of decoded.sample) expect(Number(sample.value[1])).toBe(Number(sample.value[0]) * 256 * pageBytes);
    // --period belongs to the page-fault profile.
    const misuse = await runCli(['record', '--period', '64', '-d', '1s', '-o', join(out, 'never.folded')]);
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('--period is the page-fault profile');
  });

  it('writes pprof that go tool pprof reads, a valid SVG, speedscope JSON and a PNG', async () => {
    const child = startFixture(burner, ['0']);
    try {
      for (const file of ['burner.pb.gz', 'burner.svg', 'burner.speedscope.json', 'burner.png']) {
        const result = await runCli(['record', '-d', '2s', '--pid', String(child.pid), '-o', join(out, file)]);
        expect(result.code, result.stderr).toBe(0);
      }
    } finally {
      child.kill('SIGKILL');
    }
    // pprof, decoded by Go's own tool: leaf_spin is the top function by flat samples.
    const top = execFileSync('go', ['tool', 'pprof', '-top', '-sample_index=samples', join(out, 'burner.pb.gz')], {
      env: { ...process.env, HOME: out, PPROF_TMPDIR: out },
    }).toString();
    const firstRow = top.split('\n').find((line) => /^\s+\d+\s+[\d.]+%/.test(line));
    expect(firstRow).toMatch(/leaf_spin$/);
    const decoded = Profile.decode(gunzipSync(readFileSync(join(out, 'burner.pb.gz'))));
    expect(decoded.sample.length).toBeGreaterThan(0);
    // The burner's own executable is mapping 1, the main binary: pprof's File line names it.
    const burnerPath = realpathSync(burner);
    expect(decoded.stringTable.strings[Number(decoded.mapping[0]?.filename)]).toBe(burnerPath);
    expect(Number(decoded.mapping[0]?.id)).toBe(1);
    const raw = execFileSync('go', ['tool', 'pprof', '-raw', join(out, 'burner.pb.gz')], { env: { ...process.env, HOME: out, PPROF_TMPDIR: out } }).toString();
    expect(raw).toMatch(new RegExp(`^Mappings\\n1: \\S+ ${burnerPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s`, 'm'));
    expect(top).toMatch(/^File: burner$/m);

    // SVG: well-formed XML and it names the hot function.
    execFileSync('xmllint', ['--noout', join(out, 'burner.svg')]);
    expect(readFileSync(join(out, 'burner.svg'), 'utf8')).toContain('leaf_spin');

    // speedscope: a sampled profile whose frames include leaf_spin, samples in time order.
    const speedscope = JSON.parse(readFileSync(join(out, 'burner.speedscope.json'), 'utf8'));
    expect(speedscope.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    const frames: Array<{ name: string }> = speedscope.shared.frames;
    expect(frames.some((f) => f.name === 'leaf_spin')).toBe(true);
    expect(speedscope.profiles[0].type).toBe('sampled');
    expect(speedscope.profiles[0].samples.length).toBeGreaterThan(50);

    // PNG: its IHDR says 1200 px wide and taller than the title; the frames make it more than a
    // few kB (a blank image of that size compresses to far less).
    const png = readFileSync(join(out, 'burner.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1200);
    expect(png.readUInt32BE(20)).toBeGreaterThan(100);
    expect(png.length).toBeGreaterThan(10_000);
  });

  it('leaves the idle task out of a recording of the host and states the idle share instead; --include-idle keeps it', async () => {
    const child = startFixture(burner, ['0']);
    try {
      await untilExecd(child.pid!, 'burner');
      // The share tail2 states, against the kernel's own idle accounting over the same seconds.
      const recorder = startCli(['record', '-d', '3s', '-o', join(out, 'host.folded')]);
      await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('sampling every process');
      const before = parseProcStat(readFileSync('/proc/stat', 'utf8'));
      await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('idle while sampling');
      const after = parseProcStat(readFileSync('/proc/stat', 'utf8'));
      const result = await recorder.done;
      expect(result.code, result.stderr).toBe(0);
      const stated = /tail2: CPUs (\d+)% idle while sampling \(\d+ samples of the idle task, left out of the profile; --include-idle keeps them\)/.exec(result.stderr);
      expect(stated, result.stderr).not.toBeNull();
      const idleTicks = after.idleTicks - before.idleTicks;
      const truth = (100 * idleTicks) / (idleTicks + after.busyTicks - before.busyTicks);
      expect(Math.abs(Number(stated![1]) - truth), `stated ${stated![1]}%, /proc/stat ${truth.toFixed(1)}%`).toBeLessThanOrEqual(15);

      const svg = await runCli(['record', '-d', '2s', '-o', join(out, 'host.svg')]);
      expect(svg.code, svg.stderr).toBe(0);
      expect(readFileSync(join(out, 'host.svg'), 'utf8')).toMatch(/<title>tail2 record on [^<]*: every process — CPUs \d+% idle<\/title>/);
      const pprof = await runCli(['record', '-d', '2s', '-o', join(out, 'host.pb.gz')]);
      expect(pprof.code, pprof.stderr).toBe(0);
      const kept = await runCli(['record', '-d', '3s', '--include-idle', '-o', join(out, 'host-idle.folded')]);
      expect(kept.code, kept.stderr).toBe(0);
      // Every sample of the idle task the sampler delivered is in the profile. (An idle vCPU is
      // not always sampled, so how many there are is the recording's own count, not a share.)
      const seen = /tail2: CPUs \d+% idle while sampling \((\d+) samples of the idle task, kept in the profile\)/.exec(kept.stderr);
      expect(seen, kept.stderr).not.toBeNull();
      const idleSamples = samplesWhere(parseFolded(readFileSync(join(out, 'host-idle.folded'), 'utf8')), (path) => path.startsWith('swapper'));
      expect(idleSamples, kept.stderr).toBe(Number(seen![1]));
    } finally {
      child.kill('SIGKILL');
    }
    const folded = parseFolded(readFileSync(join(out, 'host.folded'), 'utf8'));
    expect(samplesWhere(folded, (path) => path.startsWith('burner;'))).toBeGreaterThan(50);
    expect(samplesWhere(folded, (path) => path.startsWith('swapper'))).toBe(0);
    // A profile of the whole host names the kernel as its main binary, not one of its processes.
    const host = Profile.decode(gunzipSync(readFileSync(join(out, 'host.pb.gz'))));
    expect(host.stringTable.strings[Number(host.mapping[0]?.filename)]).toBe('[kernel.kallsyms]');
    expect(host.comment.map((c) => host.stringTable.strings[Number(c)])).toEqual([expect.stringMatching(/— CPUs \d+% idle$/), 'the idle task (pid 0) is left out of the samples']);
  });

  it('stops early on Ctrl-C and still writes the file', async () => {
    const recorder = startCli(['record', '-d', '60s', '--include-idle', '-o', join(out, 'interrupted.pb.gz')]);
    await expect.poll(() => recorder.stderr(), { timeout: 30_000 }).toContain('sampling');
    await sleep(1500); // a recording of 1.5 s, of the 60 s asked for
    recorder.child.kill('SIGINT');
    const { code, stderr } = await recorder.done;
    expect(code).toBe(0);
    // The profile covers the time until the signal, not the 60 s asked for.
    expect(stderr).toContain('wrote');
    const profile = Profile.decode(gunzipSync(readFileSync(join(out, 'interrupted.pb.gz'))));
    expect(Number(profile.durationNanos) / 1e9).toBeGreaterThan(1);
    expect(Number(profile.durationNanos) / 1e9).toBeLessThan(30);
    expect(profile.sample.length).toBeGreaterThan(0);
  });

  it('refuses an unknown output format before sampling, with exit code 2', async () => {
    const result = await runCli(['record', '-d', '1s', '-o', join(out, 'profile.txt')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot tell the output format of ".*profile\.txt".*\.svg/);
  });

  it('exits non-zero naming the missing capability when run without privileges', async () => {
    const result = await runCli(['record', '-d', '1s', '-o', join(out, 'denied.folded')], {
      // Root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: dropped from the bounding set before exec.
      wrapper: ['setpriv', '--bounding-set', '-bpf,-perfmon,-sys_admin', '--inh-caps', '-bpf,-perfmon,-sys_admin', '--'],
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/lacks CAP_BPF and CAP_PERFMON/);
    expect(result.stderr).toMatch(/root .*AmbientCapabilities/);
    expect(result.stderr).not.toMatch(/setcap/);
  });
});
