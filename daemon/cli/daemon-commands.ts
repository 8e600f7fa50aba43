import type { Command } from 'commander';
import { Tail2Error } from '../model/tail2-error.js';
import { parseDuration } from '../model/duration.js';
import { terminalText } from '../model/terminal-text.js';
import { callDaemon, daemonEndpoint } from './daemon-client.js';
import { formatStatus } from './status-text.js';
import { daemonStatusSchema, type DaemonStatus } from '../model/daemon-status.js';
import { TAIL2_VERSION } from '../tail2d/version.js';

interface Connection {
  url?: string;
  config?: string;
}

function connectionOptions(command: Command): Command {
  return command
    .option('--url <url>', 'the daemon\'s base URL (default: from the config\'s web.listen)')
    .option('-c, --config <file>', 'the daemon\'s configuration, for its address and token', undefined);
}

/** GET /api/status's answer as a {@link DaemonStatus}, or an error naming the first field that is not. */
function readStatus(answer: unknown, baseUrl: string): DaemonStatus {
  const parsed = daemonStatusSchema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Tail2Error(
    'TAIL2_DAEMON',
    `tail2d at ${baseUrl} answered a status this tail2 ${TAIL2_VERSION} cannot read: ${issue.path.length > 0 ? issue.path.join('.') : 'the answer'}: ${issue.message}.`,
    'Is it another version of tail2? `tail2 status --json` prints the answer as it came.',
  );
}

/** `tail2 capture`, `tail2 incidents`, `tail2 status`: ask the running daemon. */
export function registerDaemonCommands(program: Command): void {
  connectionOptions(
    program
      .command('capture')
      .description('ask the running daemon for an incident now')
      .option('--before <duration>', 'how far back the incident reaches', '60s')
      .option('--after <duration>', 'how long to keep recording after now', '10s')
      .option('--reason <text>', 'why (shown on the incident)', 'manual capture'),
  ).action(async (options: Connection & { before: string; after: string; reason: string }) => {
    for (const [flag, value] of [['--before', options.before], ['--after', options.after]]) {
      try {
        parseDuration(value);
      } catch (error) {
        throw new Tail2Error('TAIL2_USAGE', `${flag}: ${(error as Error).message}`);
      }
    }
    const endpoint = await daemonEndpoint(options);
    const { id } = await callDaemon<{ id: string }>(endpoint, '/api/capture', { method: 'POST', body: { before: options.before, after: options.after, reason: options.reason } });
    process.stdout.write(`${id}\n`);
    process.stderr.write(`tail2: capturing; the incident will be at ${endpoint.baseUrl}/incidents/${id} in about ${options.after}\n`);
  });

  connectionOptions(
    program
      .command('probe')
      .description('attach a profile\'s probes to a process for a while (docs/profiles.md#allocations, #copies)')
      .argument('<kind>', 'what to probe: malloc (its allocator: malloc, calloc, realloc, free…) or memcpy (the memcpy, memmove and mempcpy it really runs)')
      .requiredOption('--pid <pid>', 'the process', positivePid)
      .option('--for <duration>', 'how long the probes stay (at most 24h)', '10m')
      .option('--stop', 'remove the probes instead')
      .option('--reason <text>', 'why (shown in tail2 status)', 'tail2 probe'),
  ).action(async (kind: string, options: Connection & { pid: number; for: string; stop?: boolean; reason: string }) => {
    if (kind !== 'malloc' && kind !== 'memcpy') throw new Tail2Error('TAIL2_USAGE', `tail2 probe ${terminalText(kind)}: the kinds are malloc and memcpy`);
    try {
      parseDuration(options.for);
    } catch (error) {
      throw new Tail2Error('TAIL2_USAGE', `--for: ${(error as Error).message}`);
    }
    const endpoint = await daemonEndpoint(options);
    if (options.stop) {
      const { detached } = await callDaemon<{ detached: boolean }>(endpoint, `/api/probes/${options.pid}?kind=${kind}`, { method: 'DELETE' });
      process.stderr.write(detached ? `tail2: ${kind} probes removed from pid ${options.pid}\n` : `tail2: pid ${options.pid} had no ${kind} probes\n`);
      return;
    }
    const probed = await callDaemon<{ file: string; functions: string[]; until: string }>(endpoint, '/api/probes', {
      method: 'POST',
      body: { kind, pid: options.pid, for: options.for, reason: options.reason },
    });
    process.stdout.write(`probing ${probed.functions.join(', ')} in ${terminalText(probed.file)} of pid ${options.pid} until ${probed.until}\n`);
  });

  connectionOptions(
    program.command('incidents').description('list recent incidents').option('--json', 'print the API\'s JSON').option('-n, --limit <n>', 'how many', '20'),
  ).action(async (options: Connection & { json?: boolean; limit: string }) => {
    const endpoint = await daemonEndpoint(options);
    const result = await callDaemon<{ incidents: Array<{ id: string; rule: string; fired_at: string; process: { pid: number; comm: string } | null }> }>(
      endpoint,
      `/api/incidents?limit=${encodeURIComponent(options.limit)}`,
    );
    if (options.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    if (result.incidents.length === 0) process.stdout.write('no incidents yet\n');
    for (const incident of result.incidents) {
      const who = incident.process ? `${incident.process.comm} (pid ${incident.process.pid})` : 'host';
      process.stdout.write(`${incident.fired_at}  ${incident.rule.padEnd(24)} ${who.padEnd(28)} ${incident.id}\n`);
    }
  });

  connectionOptions(program.command('status').description('is the daemon sampling, and how').option('--json', 'print the API\'s JSON')).action(
    async (options: Connection & { json?: boolean }) => {
      const endpoint = await daemonEndpoint(options);
      const answer = await callDaemon<unknown>(endpoint, '/api/status');
      if (options.json) {
        process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
        return;
      }
      const lines = formatStatus(readStatus(answer, endpoint.baseUrl));
      process.stdout.write(lines.join('\n') + '\n');
    },
  );
}

/** `--pid`: a process id, or a usage error naming it. */
function positivePid(text: string): number {
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid < 1) throw new Tail2Error('TAIL2_USAGE', `--pid ${text}: not a process id`);
  return pid;
}
