import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { buildOptimizedCFixture, buildOptimizedCLibrary, type OptimizedBuild } from './fixture-programs.js';
import type { UnwindFixture } from './unwind-fixtures.js';

/** A workload process the unwinding test and benchmark profile. */
export interface UnwindWorkload {
  /** e.g. `deep-chain-nofp`, `xz -6`. */
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves once the process runs the code it is there for (and rejects if it dies first). */
  ready: Promise<void>;
  /** What to do once the profilers sample it (a fixture's trigger); resolves when done. */
  drive(): Promise<void>;
  /** SIGKILL; safe to call twice. */
  stop(): void;
}

/** How long a workload may take to become ready before it counts as broken. */
const READY_TIMEOUT_MS = 30_000;

/**
 * Starts a fixture built with `build`, with a CPU-time limit of `cpuSeconds` (it dies at that, or
 * with this process), and its library when it has one.
 */
export function startUnwindFixture(fixture: UnwindFixture, build: OptimizedBuild, cpuSeconds = 60): UnwindWorkload {
  const binary = buildOptimizedCFixture(fixture.name, build);
  const args = [String(cpuSeconds)];
  if (fixture.library) args.push(buildOptimizedCLibrary(fixture.library, build));
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const output = outputOf(child);
  const name = `${fixture.name}-${build}`;
  return {
    name,
    child,
    pid: child.pid!,
    ready: output.until('ready', name),
    drive: async () => {
      const trigger = fixture.trigger;
      if (!trigger) return;
      await new Promise((resolve) => setTimeout(resolve, trigger.afterMs));
      child.kill(trigger.signal);
      await output.until(trigger.then, name);
    },
    stop: () => stop(child),
  };
}

/**
 * Debian's own xz (`/usr/bin/xz -6 -T2`, no frame pointers, stripped) compressing random bytes
 * from /dev/urandom to /dev/null until killed: one thread reading and writing, two compressing.
 */
export function startXz(): UnwindWorkload {
  const random = openSync('/dev/urandom', 'r');
  const child = spawn('/usr/bin/xz', ['-6', '-T2', '-c'], { stdio: [random, 'ignore', 'inherit'] });
  closeSync(random);
  const name = 'xz -6 -T2';
  return { name, child, pid: child.pid!, ready: untilCpu(child, 0.3, name), drive: async () => {}, stop: () => stop(child) };
}

/** The Python loop {@link startPython} runs: JSON encoding and decoding and regular expressions. */
const PYTHON_LOOP = `
import json, re, sys
doc = {"items": [{"id": i, "name": "item-%d" % i, "tags": ["a", "b", str(i)], "ratio": i / 7} for i in range(300)]}
pattern = re.compile(r'"name": "item-(\\d+)"')
print("ready", flush=True)
total = 0
while True:
    text = json.dumps(doc)
    total += sum(int(m.group(1)) for m in pattern.finditer(text))
    total += len(json.loads(text)["items"])
`;

/** Debian's own python3 (/usr/bin/python3, built without frame pointers) running a json + re loop. */
export function startPython(): UnwindWorkload {
  const child = spawn('/usr/bin/python3', ['-c', PYTHON_LOOP], { stdio: ['ignore', 'pipe', 'inherit'] });
  const name = 'python3 (json + re)';
  return { name, child, pid: child.pid!, ready: outputOf(child).until('ready', name), drive: async () => {}, stop: () => stop(child) };
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Lines a child writes to stdout, and a promise for the first line equal to `line`. */
function outputOf(child: ChildProcess): { until(line: string, name: string): Promise<void> } {
  let text = '';
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    text += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    until: (line, name) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name} did not print "${line}" within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
        const check = () => {
          if (text.split('\n').includes(line)) {
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing "${line}": ${text.trim()}`));
          } else {
            waiters.push(check);
          }
        };
        child.once('exit', check);
        check();
      }),
  };
}

/** Resolves once the child has used `seconds` of CPU: it is past its start-up. */
function untilCpu(child: ChildProcess, seconds: number, name: string): Promise<void> {
  const started = Date.now();
  return new Promise<void>((resolve, reject) => {
    const poll = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting`));
      if (cpuSecondsOf(child.pid!) >= seconds) return resolve();
      if (Date.now() - started > READY_TIMEOUT_MS) return reject(new Error(`${name} did not use ${seconds} s of CPU within ${READY_TIMEOUT_MS / 1000} s`));
      setTimeout(poll, 50);
    };
    poll();
  });
}

/** User + system CPU seconds of a live process from /proc/PID/stat (0 once it is gone). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command (which may hold spaces and parentheses), utime and stime are fields 12 and 13.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ on every Linux architecture tail2 runs on
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return 0;
  }
}
