#!/usr/bin/env node
import { Command } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../config/load-config.js';
import { Tail2Error } from '../model/tail2-error.js';
import { loadNativeAddon } from '../sampler/native-addon.js';
import { Tail2Daemon } from '../tail2d/daemon.js';
import { logDestination } from '../tail2d/log-destination.js';
import { installLastResort } from '../tail2d/last-resort.js';
import { SystemdNotifier } from '../tail2d/systemd-notifier.js';
import { ThrottledErrorLog } from '../model/throttled-error-log.js';

// Everything tail2d creates is its own alone, whatever umask it was started with (a shell's 000,
// `npm start`): the incidents and their index, and what its redis-server writes (the AOF), which
// inherits this mask. The unit's UMask=0077 says the same; the store also sets its modes itself.
process.umask(0o077);

const program = new Command('tail2d')
  .description('tail2 daemon: samples every CPU, watches the rules, captures incidents')
  .option('-c, --config <file>', 'configuration file', '/etc/tail2/tail2.yaml')
  .showHelpAfterError();
program.parse(process.argv);
const { config: configPath } = program.opts<{ config: string }>();

// One line per event on stderr: JSON (with syslog priorities under journald), text on a terminal.
const log = pino({ name: 'tail2d', level: process.env.TAIL2_LOG_LEVEL ?? 'info' }, logDestination());

async function main(): Promise<void> {
  const config = await loadConfig(configPath);
  const daemon = new Tail2Daemon(config, log);
  // From here on an uncaught error writes the captures in flight and exits non-zero (systemd
  // restarts tail2d) instead of dying with them, or silently.
  installLastResort({ log, salvage: () => daemon.salvage() });
  const addon = loadNativeAddon();
  const systemd = new SystemdNotifier((state) => addon.sdNotify(state), log);
  await daemon.start();
  // Type=notify: READY once sampling and the web server are up; STATUS every 10 s; the watchdog
  // is fed only while sampling and Redis are healthy.
  systemd.ready(daemon.summaryLine());
  systemd.startWatchdog(() => daemon.health());
  const statusFailures = new ThrottledErrorLog(log, 'updating the systemd status line failed');
  const statusTimer = setInterval(() => statusFailures.run(() => systemd.status(daemon.summaryLine())), 10_000);
  statusTimer.unref();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    clearInterval(statusTimer);
    systemd.stopping();
    daemon.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    systemd.notifyReloading();
    void daemon.reload().finally(() => statusFailures.run(() => systemd.ready(daemon.summaryLine())));
  });
}

main().catch((error: unknown) => {
  // Refusing to start: say why on stderr in plain words as well as in the log.
  const message = error instanceof Tail2Error ? error.message : ((error as Error)?.stack ?? String(error));
  process.stderr.write(`tail2d: cannot start: ${message}\n`);
  log.fatal({ err: error }, 'cannot start');
  process.exit(1);
});
