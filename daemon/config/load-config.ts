import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatProblem, inFileOrder, type LocatedProblem } from '../model/located-problem.js';
import { parseLocatedYaml, reportZodIssues, type ReportAt } from '../model/located-yaml.js';
import type { YamlPath } from '../model/yaml-locations.js';
import { Tail2Error } from '../model/tail2-error.js';
import type { NotifierConfig, Tail2Config } from '../model/config.js';
import { configFileSchema } from './config-schema.js';

/** A problem in tail2.yaml, located like a rules-file problem. */
export type ConfigProblem = LocatedProblem;

/** tail2.yaml did not validate; `problems` has every one, in file order. */
export class ConfigError extends Tail2Error {
  constructor(readonly problems: ConfigProblem[]) {
    super('TAIL2_CONFIG', problems.map(formatProblem).join('\n'));
  }
}

/**
 * Parses and validates tail2.yaml. `${VAR}` in any string is replaced from `env` (secrets stay out
 * of the file); a variable that is not set is a problem. Relative paths (state_dir, rules_file)
 * are taken from the config file's folder. Every problem is reported at once.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): { config?: Tail2Config; problems: ConfigProblem[] } {
  const { doc, locator, syntaxProblems } = parseLocatedYaml(text, file);
  const problems: ConfigProblem[] = [];
  if (syntaxProblems.length > 0) return { problems: inFileOrder(syntaxProblems) };
  const report: ReportAt = (path, message, at = 'value') => problems.push({ location: locator.locate(path, at), message });
  const data = substituteEnv(doc.toJS() ?? {}, [], env, report);
  const parsed = configFileSchema.safeParse(data);
  if (!parsed.success) reportZodIssues(parsed.error.issues, report);
  if (problems.length > 0 || !parsed.success) return { problems: inFileOrder(problems) };

  const raw = parsed.data;
  const base = dirname(resolve(file));
  const { host, port } = raw.web.listen;
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost' || host.startsWith('127.');
  if (!loopback && !raw.web.token) {
    report(['web', 'listen'], `listening on ${host} (beyond loopback) needs web.token, so only people with the token can read incidents; set web.token or listen on 127.0.0.1`);
    return { problems };
  }
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const config: Tail2Config = {
    file: resolve(file),
    sampling: { frequency: raw.sampling.frequency, maxCpu: raw.sampling.max_cpu, unwind: raw.sampling.unwind, unwindMemoryBytes: raw.sampling.unwind_memory,
      pageFaults: { mode: raw.sampling.page_faults.mode, periodFaults: raw.sampling.page_faults.period },
      allocations: { mode: raw.sampling.allocations.mode, meanBytes: raw.sampling.allocations.mean, maxTracked: raw.sampling.allocations.max_tracked },
      copies: { mode: raw.sampling.copies.mode, meanBytes: raw.sampling.copies.mean },
    },
    buffer: { retainMs: raw.buffer.retain, maxMemoryBytes: raw.buffer.max_memory },
    stateDir: resolve(base, raw.state_dir),
    web: { listen: { host, port }, publicUrl: (raw.web.public_url ?? `http://${urlHost}:${port}`).replace(/\/+$/, ''), token: raw.web.token },
    redis: { url: raw.redis.url },
    rulesFile: resolve(base, raw.rules_file),
    symbols: {
      debugDirectories: raw.symbols.debug_directories,
      maxDebugFileBytes: raw.symbols.max_debug_file_size,
      maxPerfMapBytes: raw.symbols.max_perf_map_size,
      fileTimeBudgetMs: raw.symbols.file_time_budget,
      maxReaderMemoryBytes: raw.symbols.max_memory,
      maxUnwindCacheBytes: raw.symbols.max_unwind_cache_size,
    },
    redact: { defaults: raw.redact.defaults, names: raw.redact.names.map((name) => name.toLowerCase()), urlUserinfo: raw.redact.url_userinfo },
    store: { maxIncidents: raw.store.max_incidents, maxAgeMs: raw.store.max_age, maxDiskBytes: raw.store.max_disk },
    capture: { includeIdle: raw.capture.include_idle },
    probes: { maxOverhead: raw.probes.max_overhead },
    notifiers: Object.fromEntries(
      Object.entries(raw.notifiers).map(([name, n]): [string, NotifierConfig] => [
        name,
        n.type === 'slack' ? { type: 'slack', token: n.token, channel: n.channel, apiUrl: n.api_url } : n,
      ]),
    ),
  };
  return { config, problems: [] };
}

/** Reads and validates tail2.yaml; throws {@link ConfigError} listing every problem. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Tail2Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Tail2Error('TAIL2_CONFIG', `cannot read the configuration ${path}: ${(error as Error).message}`, undefined, { cause: error });
  }
  const { config, problems } = parseConfig(text, path, env);
  if (!config) throw new ConfigError(problems);
  return config;
}

function substituteEnv(value: unknown, path: YamlPath, env: NodeJS.ProcessEnv, report: (path: YamlPath, message: string) => void): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const replacement = env[name];
      if (replacement === undefined) {
        report(path, `environment variable ${name} is not set (the value refers to \${${name}})`);
        return '';
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => substituteEnv(item, [...path, index], env, report));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substituteEnv(item, [...path, key], env, report)]));
  }
  return value;
}

