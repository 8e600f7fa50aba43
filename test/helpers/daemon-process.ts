import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { tail2dCommand } from '../../harness/daemon-command.js';
import { daemonStatusSchema, type DaemonStatus } from '../../daemon/model/daemon-status.js';
import { testOutput } from './fixtures.js';

export { tail2dPath } from '../../harness/daemon-command.js';

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RunningDaemon {
  child: ChildProcess;
  baseUrl: string;
  dir: string;
  configPath: string;
  rulesPath: string;
  /** Everything the daemon logged so far. */
  log(): string;
  get<T>(path: string): Promise<T>;
  /** GET /api/status, checked against {@link DaemonStatus}: throws naming any field it lacks, mistypes or adds. */
  status(): Promise<DaemonStatus>;
  /** Polls until `check` returns a value (not undefined), or throws after `timeoutMs`. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /**
   * Waits for a collector round (and the rule round and memory budget pass after it) that began
   * after `sinceMs` (wall clock), and returns the status it left.
   */
  collectedSince(sinceMs: number): Promise<DaemonStatus>;
  /**
   * One file of a stored incident, once it is there: an incident is stored (and listed) with the
   * files its notification needs, the others follow (daemon/capture/staged-render.ts).
   */
  incidentFile(id: string, file: string): Promise<Buffer>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts the real tail2d as a child process on a fresh state folder and a free port, with the
 * given rules file text and extra config lines, and waits until it serves /healthz.
 * `web` adds keys to the `web:` mapping (e.g. `public_url: "…"`). `keepState` starts it over the state a previous daemon of the same name left (a restart).
 * `umask` (octal text, e.g. '000') is set by a shell that then execs node: the daemon's pid is node's.
 * `tail2d` runs another copy of tail2d.js (an installed one) instead of this checkout's.
 * `wrapper` is a command line put before `node tail2d.js …`; it must end by exec'ing its arguments.
 */
export async function startDaemon(name: string, rules: string, extraConfig = '', options: { keepState?: boolean; web?: string; umask?: string; tail2d?: string; wrapper?: string[] } = {}): Promise<RunningDaemon> {
  const dir = join(testOutput, 'daemon', name);
  if (!options.keepState) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const rulesPath = join(dir, 'rules.yaml');
  const configPath = join(dir, 'tail2.yaml');
  writeFileSync(rulesPath, rules);
  writeFileSync(configPath, `state_dir: state\nweb: { listen: "127.0.0.1:${port}"${options.web ? `, ${options.web}` : ''} }\nrules_file: rules.yaml\n${extraConfig}`);
  const [node, ...argv] = tail2dCommand(configPath, options.tail2d);
  // A wrapper (unshare, …) and the umask shell must exec the daemon in their place, so that signals reach it.
  const command = options.umask
    ? [...(options.wrapper ?? []), '/bin/sh', '-c', `umask ${options.umask} && exec "$0" "$@"`, node, ...argv]
    : [...(options.wrapper ?? []), node, ...argv];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const baseUrl = `http://127.0.0.1:${port}`;

  const daemon: RunningDaemon = {
    child,
    baseUrl,
    dir,
    configPath,
    rulesPath,
    log: () => output,
    async get<T>(path: string): Promise<T> {
      const response = await fetch(baseUrl + path);
      if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    },
    async status(): Promise<DaemonStatus> {
      return checkedStatus(await daemon.get<unknown>('/api/status'));
    },
    async waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`tail2d exited (${child.exitCode}) while waiting for ${what}:\n${output}`);
        const value = await check().catch(() => undefined);
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; tail2d log:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
    incidentFile(id: string, file: string): Promise<Buffer> {
      const path = join(dir, 'state', 'incidents', id, file);
      return daemon.waitFor(`${file} of incident ${id}`, async () => (existsSync(path) ? readFileSync(path) : undefined));
    },
    collectedSince(sinceMs: number): Promise<DaemonStatus> {
      return daemon.waitFor(`a collector round after ${new Date(sinceMs).toISOString()}`, async () => {
        const status = await daemon.status();
        const last = status.metrics.last_collect;
        return last !== null && Date.parse(last) > sinceMs ? status : undefined;
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
  await daemon.waitFor('tail2d to serve /healthz', async () => ((await fetch(`${baseUrl}/healthz`)).ok ? true : undefined), 60_000);
  return daemon;
}

/** `answer` as a {@link DaemonStatus}, or an error naming the fields that are not as the type says. */
export function checkedStatus(answer: unknown): DaemonStatus {
  const parsed = daemonStatusSchema.safeParse(answer);
  if (!parsed.success) {
    throw new Error(`GET /api/status is not a DaemonStatus: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  // zod drops keys the schema does not name: whatever the answer has more is untyped.
  if (!isDeepStrictEqual(parsed.data, answer)) throw new Error(`GET /api/status has fields DaemonStatus does not name: ${extraKeys(answer, parsed.data).join(', ')}`);
  return parsed.data;
}

function extraKeys(raw: unknown, typed: unknown, path = ''): string[] {
  if (raw === null || typeof raw !== 'object' || typed === null || typeof typed !== 'object') return [];
  const extra: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const at = path ? `${path}.${key}` : key;
    if (!(key in typed)) extra.push(at);
    else extra.push(...extraKeys(value, (typed as Record<string, unknown>)[key], at));
  }
  return extra;
}
