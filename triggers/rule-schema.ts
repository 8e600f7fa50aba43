import { z } from 'zod';
import { METRIC_NAMES } from '../daemon/model/metrics.js';
import { formatDuration, parseDuration } from '../daemon/model/duration.js';
import type { RuleScope } from '../daemon/model/rule.js';

/** Rule names go into file names, URLs and Slack messages, so they stay plain. */
export const RULE_NAME_PATTERN = /^[a-z0-9-]+$/;

/**
 * Upper bounds of the capture window. `before` is read from the rolling buffer, which holds minutes;
 * `after` keeps the incident open (and its notification waiting), so it stays short.
 */
export const CAPTURE_LIMITS = { beforeMs: 3_600_000, afterMs: 600_000 } as const;

const SCOPE_KEYS = ['process', 'pid', 'cgroup', 'unit'] as const;
/** The kernel's PID_MAX_LIMIT on 64-bit: no pid is larger. */
const PID_MAX = 4_194_304;
/** Only these systemd unit types own a cgroup whose metrics tail2 can read. */
const UNIT_NAME = /^[A-Za-z0-9:_.\\@-]+\.(?:service|scope|slice|socket|mount|swap)$/;

/** zod calls this for issues a schema raises itself; undefined keeps zod's own message. */
type IssueMessage = (issue: { code?: string; input?: unknown }) => string | undefined;

/** Shows a wrong value in a message the way it was most likely written. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

/** Messages for a mapping: unknown keys (completed per key by the caller) and a non-mapping value. */
function mappingMessages(what: string, keys: readonly string[], example: string): IssueMessage {
  return (issue) => {
    if (issue.code === 'unrecognized_keys') return `allowed keys in ${what} are ${keys.join(', ')}`;
    if (issue.code === 'invalid_type') return `${what} must be a mapping, e.g. ${example}, not ${shown(issue.input)}`;
    return undefined;
  };
}

/** A duration in milliseconds, from text such as `30s`; `maxMs` is the largest allowed. */
function durationSchema(key: string, limit?: { maxMs: number; text: string }) {
  return z
    .string({
      error: (issue) =>
        typeof issue.input === 'number' ? `${key} needs a unit: write ${issue.input}s (or ms, m, h, d)` : `${key} must be a duration such as 30s, 1m30s or 500ms, not ${shown(issue.input)}`,
    })
    .transform((text, ctx) => {
      // parseDuration rejects "-30s" as malformed; a person who wrote it deserves the real reason.
      if (/^\s*-/.test(text)) {
        ctx.addIssue({ code: 'custom', message: `${key} must not be negative, not "${text}"` });
        return z.NEVER;
      }
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${key}: ${(error as Error).message}` });
        return z.NEVER;
      }
      if (limit && ms > limit.maxMs) {
        ctx.addIssue({ code: 'custom', message: `${key} must be at most ${formatDuration(limit.maxMs)} (${limit.text}), not ${text}` });
        return z.NEVER;
      }
      return ms;
    });
}

const nameSchema = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? 'missing "name": every rule needs a unique name of a-z, 0-9 and -, e.g. db-spin'
        : `name must be text of a-z, 0-9 and - (quote a name that looks like a number: name: "404"), not ${shown(issue.input)}`,
  })
  .superRefine((name, ctx) => {
    if (name === '') ctx.addIssue({ code: 'custom', message: 'name must not be empty' });
    else if (!RULE_NAME_PATTERN.test(name)) ctx.addIssue({ code: 'custom', message: `name "${name}" may only contain lowercase letters a-z, digits 0-9 and -` });
  });

const metricSchema = z.enum(METRIC_NAMES, {
  error: (issue) =>
    issue.input === undefined ? `missing "metric": one of ${METRIC_NAMES.join(', ')}` : `unknown metric ${shown(issue.input)}: known metrics are ${METRIC_NAMES.join(', ')}`,
});

const scopeMappingSchema = z.strictObject(
  {
    process: z
      .string({ error: (issue) => `scope.process must be a regular expression as text, e.g. "^postgres", not ${shown(issue.input)}` })
      .transform((source, ctx) => {
        try {
          return new RegExp(source);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: `scope.process is not a valid regular expression: ${(error as Error).message}` });
          return z.NEVER;
        }
      })
      .optional(),
    pid: z
      .number({ error: (issue) => `scope.pid must be a process id (a whole number from 1 to ${PID_MAX}), not ${shown(issue.input)}` })
      .superRefine((pid, ctx) => {
        if (!Number.isInteger(pid) || pid < 1 || pid > PID_MAX) ctx.addIssue({ code: 'custom', message: `scope.pid must be a process id (a whole number from 1 to ${PID_MAX}), not ${pid}` });
      })
      .optional(),
    cgroup: z
      .string({ error: (issue) => `scope.cgroup must be a cgroup path such as /system.slice/nginx.service, not ${shown(issue.input)}` })
      .superRefine((path, ctx) => {
        if (!path.startsWith('/')) {
          ctx.addIssue({ code: 'custom', message: `scope.cgroup must be a path below /sys/fs/cgroup starting with "/", e.g. /system.slice/nginx.service, not "${path}"` });
        }
      })
      .optional(),
    unit: z
      .string({ error: (issue) => `scope.unit must be a systemd unit name such as nginx.service, not ${shown(issue.input)}` })
      .superRefine((unit, ctx) => {
        if (!UNIT_NAME.test(unit)) {
          ctx.addIssue({
            code: 'custom',
            message: `scope.unit must be a systemd unit name with its type suffix (.service, .scope, .slice, .socket, .mount or .swap), e.g. nginx.service, not "${unit}"`,
          });
        }
      })
      .optional(),
  },
  { error: mappingMessages('scope', SCOPE_KEYS, '{ process: "^postgres" }') },
);

/** `system`, or a mapping with exactly one of process/pid/cgroup/unit. */
const scopeSchema = z.unknown().transform((value, ctx): RuleScope => {
  if (value === 'system') return { kind: 'system' };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: `scope must be system or a mapping with one of ${SCOPE_KEYS.join(', ')}, e.g. { process: "^postgres" }, not ${shown(value)}` });
    return z.NEVER;
  }
  const keys = Object.keys(value);
  const kinds = SCOPE_KEYS.filter((key) => keys.includes(key));
  // With an unknown key (a typo of one of the four) the unknown-key problem already says what to write.
  if (kinds.length !== 1 && kinds.length === keys.length) {
    const found = kinds.length === 0 ? 'it has none' : `not ${kinds.join(' and ')}`;
    ctx.addIssue({ code: 'custom', message: `scope must have exactly one of ${SCOPE_KEYS.join(', ')}: ${found}` });
  }
  const parsed = scopeMappingSchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
    return z.NEVER;
  }
  const scope = parsed.data;
  if (kinds.length !== 1) return z.NEVER;
  if (scope.process !== undefined) return { kind: 'process', pattern: scope.process };
  if (scope.pid !== undefined) return { kind: 'pid', pid: scope.pid };
  if (scope.cgroup !== undefined) return { kind: 'cgroup', path: scope.cgroup };
  return { kind: 'unit', name: scope.unit as string };
});

const captureSchema = z.strictObject(
  {
    before: durationSchema('capture.before', { maxMs: CAPTURE_LIMITS.beforeMs, text: 'the rolling buffer holds minutes, not hours; capture.after at most 10m' }).optional(),
    after: durationSchema('capture.after', { maxMs: CAPTURE_LIMITS.afterMs, text: 'the incident waits for it; capture.before at most 1h' }).optional(),
  },
  { error: mappingMessages('capture', ['before', 'after'], '{ before: 60s, after: 10s }') },
);

const maxPerDaySchema = z
  .number({ error: (issue) => `max_per_day must be a positive whole number, not ${shown(issue.input)}` })
  .superRefine((count, ctx) => {
    if (!Number.isInteger(count) || count < 1) ctx.addIssue({ code: 'custom', message: `max_per_day must be a positive whole number (1 or more), not ${count}` });
  });

function notifySchema(notifiers: ReadonlySet<string> | undefined) {
  const known = notifiers && notifiers.size > 0 ? `tail2.yaml defines ${[...notifiers].join(', ')}` : 'tail2.yaml defines no notifiers';
  const item = z.string({ error: (issue) => `each notify item must be a notifier name from tail2.yaml, not ${shown(issue.input)}` }).superRefine((name, ctx) => {
    if (notifiers && !notifiers.has(name)) ctx.addIssue({ code: 'custom', message: `unknown notifier "${name}": ${known}` });
  });
  return z.array(item, { error: (issue) => `notify must be a list of notifier names, e.g. [oncall-slack], not ${shown(issue.input)}` });
}

/**
 * The zod schema of one rule (docs/rules.md): shape, unknown keys, and every check on
 * a single key. Checks across keys (the threshold's unit depends on `metric`, exactly one of
 * `above`/`below`, unique names) are in rules-file.ts, which sees the whole rule and the whole file.
 *
 * @param notifiers - names defined in tail2.yaml; when given, `notify` items must be among them.
 */
export function ruleSchema(options: { notifiers?: ReadonlySet<string> } = {}) {
  const shape = {
    name: nameSchema,
    metric: metricSchema,
    scope: scopeSchema.optional(),
    above: z.unknown().optional(),
    below: z.unknown().optional(),
    for: durationSchema('for').optional(),
    capture: captureSchema.optional(),
    cooldown: durationSchema('cooldown').optional(),
    max_per_day: maxPerDaySchema.optional(),
    notify: notifySchema(options.notifiers).optional(),
  };
  return z.strictObject(shape, { error: mappingMessages('a rule', Object.keys(shape), '{ name: db-spin, metric: cpu, above: 90% }') });
}

/** A rule as the schema outputs it: durations in ms, scope resolved, thresholds still as written. */
export type ParsedRuleFields = z.output<ReturnType<typeof ruleSchema>>;

/** The file around the rules: one top-level key. `rules:` with nothing under it is an empty list. */
export const rulesFileSchema = z.strictObject(
  {
    rules: z
      .array(z.unknown(), {
        error: (issue) =>
          issue.input === undefined ? 'missing top-level "rules:" list' : `"rules" must be a list of rules, each starting with "- name: ...", not ${shown(issue.input)}`,
      })
      .nullable(),
  },
  {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return 'the only top-level key is "rules"';
      if (issue.code === 'invalid_type') return `a rules file must be a mapping with a top-level "rules:" list, not ${shown(issue.input)}`;
      return undefined;
    },
  },
);
