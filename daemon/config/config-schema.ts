import { z } from 'zod';
import { parseDuration } from '../model/duration.js';
import { parseSize } from '../model/size.js';
import { DEFAULT_ALLOCATION_MEAN_BYTES, DEFAULT_COPY_MEAN_BYTES, DEFAULT_MAX_TRACKED_ALLOCATIONS } from '../model/allocation-sampling.js';
import { DEFAULT_PAGE_FAULT_PERIOD, PAGE_FAULT_MODES } from '../model/page-fault-profile.js';
import { UNWIND_MODES } from '../model/unwind-table.js';

const duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** `25%` → 0.25: a share of one core. */
const percent = z.string().transform((text, ctx) => {
  const match = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  const value = match ? Number(match[1]) / 100 : NaN;
  if (!match || value <= 0 || value > 64) {
    ctx.addIssue({ code: 'custom', message: `invalid share of a core "${text}": use a percentage, e.g. 25%` });
    return z.NEVER;
  }
  return value;
});

/** A share of a probed process's time, `5%`: more than 0, at most 100%. */
const overheadShare = z.string().transform((text, ctx) => {
  const match = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  const value = match ? Number(match[1]) / 100 : NaN;
  if (!match || value <= 0 || value > 1) {
    ctx.addIssue({ code: 'custom', message: `invalid overhead "${text}": use a percentage above 0 and at most 100%, e.g. 5%` });
    return z.NEVER;
  }
  return value;
});

const listen = z.string().transform((text, ctx) => {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `invalid listen address "${text}": use HOST:PORT, e.g. 127.0.0.1:8383` });
    return z.NEVER;
  }
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
});

const notifier = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('slack'), token: z.string().min(1), channel: z.string().min(1), api_url: z.url().optional() }),
  z.strictObject({ type: z.literal('slack_webhook'), url: z.url() }),
  z.strictObject({ type: z.literal('email'), smtp: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL'), from: z.string().min(1), to: z.array(z.string().min(3)).min(1) }),
]);

/** tail2.yaml as written (snake_case keys); see docs/config.md. */
export const configFileSchema = z.strictObject({
  sampling: z
    .strictObject({
      frequency: z.number().int().min(1).max(1000).default(99),
      max_cpu: percent.default(0.25),
      unwind: z.enum(UNWIND_MODES).default('auto'),
      unwind_memory: size.pipe(z.number().min(1024 ** 2, 'must be at least 1MiB').max(4 * 1024 ** 3, 'must be at most 4GiB: it is kernel memory')).default(64 * 1024 ** 2),
      page_faults: z
        .strictObject({
          mode: z.enum(PAGE_FAULT_MODES).default('auto'),
          period: z.number().int().min(1).max(1_000_000_000).default(DEFAULT_PAGE_FAULT_PERIOD),
        })
        .default({ mode: 'auto', period: DEFAULT_PAGE_FAULT_PERIOD }),
      allocations: z
        .strictObject({
          mode: z.enum(['auto', 'off']).default('auto'),
          mean: size.pipe(z.number().int().min(1, 'must be at least 1 byte').max(1024 ** 3, 'must be at most 1GiB')).default(DEFAULT_ALLOCATION_MEAN_BYTES),
          max_tracked: z.number().int().min(1).max(1_048_576).default(DEFAULT_MAX_TRACKED_ALLOCATIONS),
        })
        .default({ mode: 'auto', mean: DEFAULT_ALLOCATION_MEAN_BYTES, max_tracked: DEFAULT_MAX_TRACKED_ALLOCATIONS }),
      copies: z
        .strictObject({
          mode: z.enum(['auto', 'off']).default('auto'),
          mean: size.pipe(z.number().int().min(1, 'must be at least 1 byte').max(1024 ** 3, 'must be at most 1GiB')).default(DEFAULT_COPY_MEAN_BYTES),
        })
        .default({ mode: 'auto', mean: DEFAULT_COPY_MEAN_BYTES }),
    })
    .default({
      frequency: 99,
      max_cpu: 0.25,
      unwind: 'auto',
      unwind_memory: 64 * 1024 ** 2,
      page_faults: { mode: 'auto', period: DEFAULT_PAGE_FAULT_PERIOD },
      allocations: { mode: 'auto', mean: DEFAULT_ALLOCATION_MEAN_BYTES, max_tracked: DEFAULT_MAX_TRACKED_ALLOCATIONS },
      copies: { mode: 'auto', mean: DEFAULT_COPY_MEAN_BYTES },
    }),
  buffer: z
    .strictObject({ retain: duration.default(600_000), max_memory: size.pipe(z.number().min(1024 ** 2, 'must be at least 1MiB: the buffer\'s tables alone start at half a megabyte')).default(256 * 1024 * 1024) })
    .default({ retain: 600_000, max_memory: 256 * 1024 * 1024 }),
  state_dir: z.string().min(1).default('/var/lib/tail2'),
  web: z
    .strictObject({ listen: listen.default({ host: '127.0.0.1', port: 8383 }), public_url: z.url().optional(), token: z.string().min(16, 'must be at least 16 characters').optional() })
    .default({ listen: { host: '127.0.0.1', port: 8383 } }),
  redis: z
    .strictObject({ url: z.string().regex(/^(rediss?|unix|redis\+unix):\/\//, 'must be a redis://, rediss:// or unix:///path/to/socket URL').optional() })
    .default({}),
  rules_file: z.string().min(1).default('/etc/tail2/rules.yaml'),
  symbols: z
    .strictObject({
      debug_directories: z.array(z.string().regex(/^\/[^:]*$/, 'must be an absolute path without ":"')).default(['/usr/lib/debug']),
      max_debug_file_size: size.default(2 * 1024 ** 3),
      max_perf_map_size: size.default(256 * 1024 ** 2),
      file_time_budget: duration.default(10_000),
      max_memory: size.default(1024 ** 3),
      max_unwind_cache_size: size.default(256 * 1024 ** 2),
    })
    .default({ debug_directories: ['/usr/lib/debug'], max_debug_file_size: 2 * 1024 ** 3, max_perf_map_size: 256 * 1024 ** 2, file_time_budget: 10_000, max_memory: 1024 ** 3, max_unwind_cache_size: 256 * 1024 ** 2 }),
  store: z
    .strictObject({ max_incidents: z.number().int().min(1).optional(), max_age: duration.optional(), max_disk: size.optional() })
    .default({}),
  capture: z.strictObject({ include_idle: z.boolean().default(false) }).default({ include_idle: false }),
  probes: z.strictObject({ max_overhead: overheadShare.default(0.05) }).default({ max_overhead: 0.05 }),
  redact: z
    .strictObject({
      defaults: z.boolean().default(true),
      names: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a name to redact is a plain word (letters, digits, _ . -), e.g. pin; it matches names containing it')).default([]),
      url_userinfo: z.boolean().default(true),
    })
    .default({ defaults: true, names: [], url_userinfo: true }),
  notifiers: z.record(z.string().regex(/^[a-z0-9-]+$/, 'notifier names use a-z, 0-9 and -'), notifier).default({}),
});
