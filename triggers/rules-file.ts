import { readFile } from 'node:fs/promises';
import { Tail2Error } from '../daemon/model/tail2-error.js';
import { METRIC_NAMES } from '../daemon/model/metrics.js';
import { RULE_DEFAULTS, type Rule, type SourceLocation, type Threshold } from '../daemon/model/rule.js';
import { ruleSchema, rulesFileSchema, type ParsedRuleFields } from './rule-schema.js';
import { RulesFileError } from './rules-file-error.js';
import { parseThreshold } from './threshold.js';
import { parseLocatedYaml, reportZodIssues, type ReportAt } from '../daemon/model/located-yaml.js';
import { inFileOrder, type LocatedProblem } from '../daemon/model/located-problem.js';

export { formatProblem, type LocatedProblem } from '../daemon/model/located-problem.js';

/** What a rules file is checked against besides itself. */
export interface RulesFileOptions {
  /** Notifier names from tail2.yaml; when given, every `notify` item must be one of them. */
  notifiers?: ReadonlySet<string>;
}

/** Every rule that validated, and every problem, sorted by position in the file. */
export interface ParsedRulesFile {
  rules: Rule[];
  problems: LocatedProblem[];
}

/**
 * Parses and validates a rules file (docs/rules.md). Never throws: every problem is
 * returned at once, each located at the YAML node that caused it, so one `tail2 rules check` run
 * shows everything to fix. `rules` holds only the rules that have no problem.
 *
 * @param file - the name used in locations, as the user wrote it
 */
export function parseRulesFile(text: string, file: string, options: RulesFileOptions = {}): ParsedRulesFile {
  const { doc, locator, syntaxProblems } = parseLocatedYaml(text, file);
  if (syntaxProblems.length > 0) {
    // After a syntax error the parser's tree is a guess; checking it would report problems that
    // are not in the file.
    return { rules: [], problems: inFileOrder(syntaxProblems) };
  }
  if (doc.contents === null) {
    return { rules: [], problems: [{ location: locator.atOffset(0), message: 'the rules file is empty: it needs a top-level "rules:" list' }] };
  }

  const problems: LocatedProblem[] = [];
  const report: ReportAt = (path, message, at) => problems.push({ location: locator.locate(path, at), message });
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // Only alias abuse gets here (yaml caps alias expansion against "billion laughs" files).
    report([], `the rules file cannot be read as data: ${(error as Error).message}`);
    return { rules: [], problems };
  }

  const top = rulesFileSchema.safeParse(data);
  if (!top.success) reportZodIssues(top.error.issues, report);
  const items = isRecord(data) && Array.isArray(data.rules) ? (data.rules as unknown[]) : [];

  const schema = ruleSchema(options);
  const rules: Rule[] = [];
  const firstLineOfName = new Map<string, number>();
  items.forEach((item, index) => {
    const base = ['rules', index];
    const reportInRule: ReportAt = (path, message, at) => report([...base, ...path], message, at);
    const problemsBefore = problems.length;

    const parsed = schema.safeParse(item);
    if (!parsed.success) reportZodIssues(parsed.error.issues, reportInRule);
    const threshold = readThreshold(item, reportInRule);
    if (isRecord(item) && typeof item.name === 'string') {
      const firstLine = firstLineOfName.get(item.name);
      const line = locator.locate([...base, 'name']).line;
      if (firstLine === undefined) firstLineOfName.set(item.name, line);
      else reportInRule(['name'], `duplicate rule name "${item.name}": already used by the rule at line ${firstLine}`);
    }

    if (parsed.success && threshold && problems.length === problemsBefore) {
      rules.push(buildRule(parsed.data, threshold, locator.locate(base)));
    }
  });
  return { rules, problems: inFileOrder(problems) };
}

/**
 * Reads and validates a rules file. Throws a `RulesFileError` (code `TAIL2_RULES`) listing every
 * problem when there is any, or a `Tail2Error` with the same code when the file cannot be read.
 */
export async function loadRulesFile(path: string, options: RulesFileOptions = {}): Promise<Rule[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Tail2Error('TAIL2_RULES', `cannot read rules file: ${(error as Error).message}`, undefined, { cause: error });
  }
  const { rules, problems } = parseRulesFile(text, path, options);
  if (problems.length > 0) throw new RulesFileError(problems);
  return rules;
}

/**
 * `above`/`below` need the rule's metric (and for cpu, its scope) to judge the unit, which no
 * single-key schema can see. Runs even when other keys are wrong, so their problems come together.
 */
function readThreshold(item: unknown, report: ReportAt): { comparison: Rule['comparison']; threshold: Threshold } | undefined {
  if (!isRecord(item)) return undefined; // the schema already says a rule must be a mapping
  // Object keys keep the file's order, so "not both" lands on whichever was written second.
  const written = Object.keys(item).filter((key): key is Rule['comparison'] => key === 'above' || key === 'below');
  if (written.length === 0) {
    report([], 'missing threshold: add "above:" or "below:", e.g. above: 90%');
    return undefined;
  }
  if (written.length > 1) report([written[1]], 'use either "above" or "below", not both', 'key');

  const metric = METRIC_NAMES.find((name) => name === item.metric);
  const systemScope = item.scope === undefined || item.scope === 'system';
  let result: { comparison: Rule['comparison']; threshold: Threshold } | undefined;
  for (const comparison of written) {
    const parsed = parseThreshold(item[comparison], metric);
    if (!parsed.ok) {
      report([comparison], `${comparison}: ${parsed.message}`);
    } else if (metric === 'cpu' && systemScope && parsed.threshold.unit === 'percent' && parsed.threshold.value > 100) {
      // System cpu is a share of all cores; a per-process figure like 250% means something else.
      report([comparison], `${comparison}: cpu on the system scope is a share of all cores, from 0% to 100%, not ${parsed.threshold.text}; for a number of busy cores write e.g. 6 cores`);
    } else {
      result ??= { comparison, threshold: parsed.threshold };
    }
  }
  return written.length === 1 ? result : undefined;
}

function buildRule(fields: ParsedRuleFields, chosen: { comparison: Rule['comparison']; threshold: Threshold }, location: SourceLocation): Rule {
  return {
    name: fields.name,
    metric: fields.metric,
    scope: fields.scope ?? { kind: 'system' },
    comparison: chosen.comparison,
    threshold: chosen.threshold,
    forMs: fields.for ?? RULE_DEFAULTS.forMs,
    capture: {
      beforeMs: fields.capture?.before ?? RULE_DEFAULTS.capture.beforeMs,
      afterMs: fields.capture?.after ?? RULE_DEFAULTS.capture.afterMs,
    },
    cooldownMs: fields.cooldown ?? RULE_DEFAULTS.cooldownMs,
    maxPerDay: fields.max_per_day ?? RULE_DEFAULTS.maxPerDay,
    notify: fields.notify ?? [],
    location,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
