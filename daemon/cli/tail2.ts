#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Tail2Error } from '../model/tail2-error.js';
import { parseDuration } from '../model/duration.js';
import { UNWIND_MODES, type UnwindMode } from '../model/unwind-table.js';
import { DEFAULT_PAGE_FAULT_PERIOD } from '../model/page-fault-profile.js';
import type { RecordProfile } from './record-command.js';

function durationOption(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function positiveInteger(name: string, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > max) throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}, not "${text}"`);
    return value;
  };
}

/** Progress lines: rewritten in place on a terminal, one line each otherwise (and only every 5 s). */
function stderrLogger(): (line: string, transient?: boolean) => void {
  let lastTransient = 0;
  return (line, transient) => {
    if (process.stderr.isTTY) {
      process.stderr.write(transient ? `\r\x1b[K${line}` : `\r\x1b[K${line}\n`);
    } else if (!transient || Date.now() - lastTransient >= 5000) {
      if (transient) lastTransient = Date.now();
      process.stderr.write(`${line}\n`);
    }
  };
}

/**
 * record-command.js, from its bundle (scripts/build-record.mjs) when the build made one: a
 * recording's start-up is part of what it costs the host, and one file loads in a fifth of the
 * time of the ~150 modules it is made of. Imported here, not above, for the same reason.
 */
async function loadRecordCommand(): Promise<typeof import('./record-command.js')> {
  const bundle = new URL('../../bundle/record-command.js', import.meta.url);
  if (existsSync(bundle)) return (await import(bundle.href)) as typeof import('./record-command.js');
  return import('./record-command.js');
}

const program = new Command('tail2').description('tail2: always-on eBPF profiler that turns incidents into flamegraphs').showHelpAfterError();

program
  .command('record')
  .description('profile the host (or one process) for a while and write a flamegraph, pprof, folded or speedscope file')
  .requiredOption('-o, --output <file>', 'output file; the format follows the ending: .svg, .png, .folded, .pb.gz, .speedscope.json')
  .addOption(new Option('-d, --duration <duration>', 'how long to sample (e.g. 10s, 1m)').argParser(durationOption).default(10_000, '10s'))
  .option('-p, --pid <pid>', 'sample only this process', positiveInteger('--pid', 4_194_304))
  .option('--process <regex>', 'keep only processes whose name or command line matches')
  .option('-F, --frequency <hz>', 'samples per second per CPU', positiveInteger('--frequency', 10_000), 99)
  .option('--include-idle', 'keep the idle task (pid 0) in the profile')
  .addOption(
    new Option('--unwind <mode>', 'how user stacks are walked: auto (unwind tables from .eh_frame, frame pointers where a file has none) or frame-pointer (docs/unwinding.md)')
      .choices(UNWIND_MODES)
      .default('auto'),
  )
  .addOption(
    new Option(
      '--profile <kind>',
      'what to profile: cpu; page_faults (the code that made memory resident, in bytes); malloc (bytes allocated, by stack) or inuse (bytes still allocated at the end); memcpy (bytes copied, by stack); the last three with --pid (docs/profiles.md)',
    )
      .choices(['cpu', 'page_faults', 'malloc', 'inuse', 'memcpy'] satisfies RecordProfile[])
      .default('cpu'),
  )
  .option('--period <faults>', 'with --profile page_faults: faults per sample (each weighs that many pages)', positiveInteger('--period', 1_000_000_000), DEFAULT_PAGE_FAULT_PERIOD)
  .action(async (options: { output: string; duration: number; pid?: number; process?: string; frequency: number; includeIdle?: boolean; unwind: UnwindMode; profile: RecordProfile; period: number }, command: Command) => {
    if (options.pid !== undefined && options.process !== undefined) throw new Tail2Error('TAIL2_USAGE', 'use --pid or --process, not both');
    if (options.profile !== 'page_faults' && command.getOptionValueSource('period') === 'cli') throw new Tail2Error('TAIL2_USAGE', '--period is the page-fault profile\'s: use it with --profile page_faults');
    let interrupt: () => void = () => {};
    const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const { parseProcessPattern, runRecord } = await loadRecordCommand();
    await runRecord({
      durationMs: options.duration,
      frequency: options.frequency,
      output: options.output,
      pid: options.pid,
      processPattern: options.process !== undefined ? parseProcessPattern(options.process) : undefined,
      includeIdle: options.includeIdle,
      unwind: options.unwind,
      profile: options.profile,
      pageFaultPeriod: options.period,
      log: stderrLogger(),
      interrupted,
    });
  });

// `tail2 record` loads none of the other commands' modules (YAML, the rules, the daemon's
// status schemas): its start-up is part of what a recording costs the host.
if (process.argv[2] !== 'record') {
  const [{ registerRulesCommand }, { registerDaemonCommands }, { registerInstallCommand }] = await Promise.all([
    import('./rules-command.js'),
    import('./daemon-commands.js'),
    import('./install-command.js'),
  ]);
  registerRulesCommand(program);
  registerDaemonCommands(program);
  registerInstallCommand(program);
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof Tail2Error) {
    process.stderr.write(`tail2: ${error.message}\n`);
    process.exitCode = error.code === 'TAIL2_USAGE' ? 2 : 1;
  } else {
    process.stderr.write(`tail2: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
});
