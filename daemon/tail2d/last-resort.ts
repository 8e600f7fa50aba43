import type { Logger } from 'pino';

/** Exit status after an uncaught error: EX_SOFTWARE (sysexits.h), a failure to systemd's Restart=on-failure. */
export const LAST_RESORT_EXIT_CODE = 70;

/** How long the salvage may take before the process exits anyway (ms). */
export const SALVAGE_TIMEOUT_MS = 10_000;

export interface LastResortOptions {
  log: Pick<Logger, 'fatal' | 'info'>;
  /**
   * What to save before dying: the daemon writes the captures in flight and stops the sampler.
   * Cut short after `timeoutMs`.
   */
  salvage: () => Promise<void>;
  /** @defaultValue {@link SALVAGE_TIMEOUT_MS} */
  timeoutMs?: number;
  /** @defaultValue process.exit */
  exit?: (code: number) => void;
}

/**
 * The handler of last resort for `uncaughtException` and `unhandledRejection`: a daemon in an
 * unknown state must not go on (nor die without a word, as Node does by default for a rejection
 * inside a timer). It logs the error at `fatal`, saves what it can within the time limit, and
 * exits with {@link LAST_RESORT_EXIT_CODE} so systemd restarts it. A second fault during the
 * salvage is logged and changes nothing: the exit is already on its way.
 *
 * Returns a function that removes the handlers.
 */
export function installLastResort(options: LastResortOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const timeoutMs = options.timeoutMs ?? SALVAGE_TIMEOUT_MS;
  let dying = false;

  const onFault = (error: unknown, origin: string): void => {
    if (dying) {
      options.log.fatal({ err: error, origin }, 'another uncaught error while saving the captures in flight');
      return;
    }
    dying = true;
    options.log.fatal({ err: error, origin }, `uncaught error (${origin}): writing the captures in flight, then exiting for systemd to restart tail2d`);
    // Not unref'd: this timer is what guarantees the exit when the salvage hangs.
    const deadline = setTimeout(() => {
      options.log.fatal({ timeoutMs }, 'saving the captures in flight took too long; exiting without them');
      exit(LAST_RESORT_EXIT_CODE);
    }, timeoutMs);
    let salvaging: Promise<void>;
    try {
      salvaging = options.salvage();
    } catch (salvageError) {
      salvaging = Promise.reject(salvageError);
    }
    salvaging.then(
      () => {
        clearTimeout(deadline);
        options.log.info({}, 'captures in flight written; exiting');
        exit(LAST_RESORT_EXIT_CODE);
      },
      (salvageError: unknown) => {
        clearTimeout(deadline);
        options.log.fatal({ err: salvageError }, 'saving the captures in flight failed; exiting');
        exit(LAST_RESORT_EXIT_CODE);
      },
    );
  };

  const onException = (error: Error, origin: NodeJS.UncaughtExceptionOrigin): void => onFault(error, origin);
  const onRejection = (reason: unknown): void => onFault(reason, 'unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
