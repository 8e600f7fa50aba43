import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load-config.js';
import { Tail2Error } from '../model/tail2-error.js';
import { terminalText } from '../model/terminal-text.js';

/** Where the running daemon answers, and the token it wants. */
export interface DaemonEndpoint {
  baseUrl: string;
  token?: string;
}

/**
 * Finds the daemon from `--url` or, failing that, from the config it runs with (`--config`,
 * default /etc/tail2/tail2.yaml): its web.listen and web.token.
 */
export async function daemonEndpoint(options: { url?: string; config?: string }): Promise<DaemonEndpoint> {
  if (options.url) return { baseUrl: options.url.replace(/\/+$/, ''), token: process.env.TAIL2_TOKEN };
  const path = options.config ?? '/etc/tail2/tail2.yaml';
  if (!options.config && !existsSync(path)) return { baseUrl: 'http://127.0.0.1:8383', token: process.env.TAIL2_TOKEN };
  const config = await loadConfig(path).catch((error: unknown) => {
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (cause?.code !== 'EACCES') throw error;
    throw new Tail2Error(
      'TAIL2_CONFIG',
      `cannot read ${path}: it holds web.token, and only root may read it.`,
      'Run tail2 as root (sudo), or pass --url with the token in TAIL2_TOKEN.',
      { cause: error },
    );
  });
  const { host, port } = config.web.listen;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return { baseUrl: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`, token: config.web.token ?? process.env.TAIL2_TOKEN };
}

/** Calls the daemon's JSON API; a daemon that does not answer is a TAIL2_DAEMON error saying so. */
export async function callDaemon<T>(endpoint: DaemonEndpoint, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${endpoint.baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new Tail2Error('TAIL2_DAEMON', `tail2d does not answer at ${endpoint.baseUrl} (${(error as Error).message}).`, 'Is it running? Start it with `tail2d --config FILE` or `systemctl start tail2`; or point at it with --url / --config.');
  }
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  // The daemon's words may carry what a profiled process named (a path): never raw to the terminal.
  if (!response.ok) throw new Tail2Error('TAIL2_DAEMON', `tail2d answered ${response.status}: ${terminalText(body.error ?? response.statusText)}`);
  return body;
}
