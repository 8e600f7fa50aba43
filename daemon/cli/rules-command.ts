import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { isMap, isScalar } from 'yaml';
import { formatProblem, loadRulesFile } from '../../triggers/rules-file.js';
import { RulesFileError } from '../../triggers/rules-file-error.js';
import { parseLocatedYaml } from '../model/located-yaml.js';
import { Tail2Error } from '../model/tail2-error.js';

/** The names under `notifiers:` in a tail2.yaml, or the lines that say why they cannot be read. */
type NotifierNames = { ok: true; names: Set<string> } | { ok: false; lines: string[] };

/**
 * Adds `tail2 rules check FILE [--config FILE]` to `program`. A bad file prints one
 * `FILE:LINE:COL: message` per problem on stderr and exits 1; a good one prints `FILE: N rules OK`
 * on stdout. Output and exit go through commander (`configureOutput`, `exitOverride`), so tests
 * can run the command in-process.
 *
 * @returns the `rules` command, for more subcommands later
 */
export function registerRulesCommand(program: Command): Command {
  const rules = program.command('rules').description('work with rules files (see docs/rules.md)');
  rules
    .command('check')
    .description('validate a rules file: prints FILE:LINE:COL: message for each problem and exits 1, or FILE: N rules OK')
    .argument('<file>', 'the rules file (YAML)')
    .option('--config <file>', 'a tail2.yaml: notify names must be among its notifiers (without it they are not checked)')
    .action(async (file: string, options: { config?: string }, command: Command) => {
      const fail = (lines: string[]): never => {
        // The arguments were fine by now: the problems say what to fix, and usage text after them
        // (which tail2 shows after usage errors) would only bury them.
        command.showHelpAfterError(false);
        return command.error(lines.join('\n'), { exitCode: 1, code: 'tail2.rules.invalid' });
      };
      let notifiers: Set<string> | undefined;
      if (options.config !== undefined) {
        const read = await readNotifierNames(options.config);
        if (!read.ok) fail(read.lines);
        else notifiers = read.names;
      }
      try {
        const loaded = await loadRulesFile(file, { notifiers });
        const writeOut = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
        writeOut(`${file}: ${loaded.length} rules OK\n`);
      } catch (error) {
        if (error instanceof RulesFileError) fail(error.problems.map(formatProblem));
        if (error instanceof Tail2Error) fail([`tail2: ${error.message}`]);
        throw error;
      }
    });
  return rules;
}

/**
 * Reads the keys of a tail2.yaml's top-level `notifiers:` mapping. Only this much of the config is
 * read: the rules check must not fail on config keys it has nothing to do with. No `notifiers:` at
 * all means none are defined, so every `notify` name is reported.
 */
async function readNotifierNames(configPath: string): Promise<NotifierNames> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    return { ok: false, lines: [`tail2: cannot read config ${configPath}: ${(error as Error).message}`] };
  }
  const { doc, locator, syntaxProblems } = parseLocatedYaml(text, configPath);
  if (syntaxProblems.length > 0) return { ok: false, lines: syntaxProblems.map(formatProblem) };
  const notifiers = isMap(doc.contents) ? doc.contents.get('notifiers', true) : undefined;
  if (notifiers === undefined || (isScalar(notifiers) && notifiers.value === null)) return { ok: true, names: new Set() };
  if (!isMap(notifiers)) {
    const message = '"notifiers" must be a mapping of notifier names to their settings, e.g. oncall-slack: { type: slack, ... }';
    return { ok: false, lines: [formatProblem({ location: locator.locate(['notifiers']), message })] };
  }
  return { ok: true, names: new Set(notifiers.items.map((pair) => String(isScalar(pair.key) ? pair.key.value : pair.key))) };
}
