/** What both process entry points (main.ts, worker.ts) do around their own start-up and shutdown. */
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config.js';

/** The configuration, or (for an invalid one) its message on stderr and exit 1. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Runs `shutdown` on SIGTERM (the platform stopping the process) and SIGINT (Ctrl-C). */
export function onShutdownSignals(shutdown: (signal: string) => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      shutdown(signal);
    });
  }
}

/** Starts an entry point; a failure before it is up prints its stack and exits 1. */
export function runEntry(entry: () => Promise<void>): void {
  entry().catch((err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

/** Runs the closing steps one after another, then exits: 0, or 1 (logged) when a step failed. */
export function closeThenExit(logger: Logger, steps: readonly (() => Promise<unknown>)[]): void {
  steps
    .reduce<Promise<unknown>>((done, step) => done.then(step), Promise.resolve())
    .then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error while closing resources');
        process.exit(1);
      },
    );
}
