/**
 * A worker-only process (`pnpm worker`, `node dist/src/worker.js`): runs the background work
 * (mail delivery, and every queue a feature declares) and serves no HTTP. For deployments that
 * scale API nodes (WORKERS=off) and workers apart; any number of either share the work through
 * their claims. Needs PostgreSQL: the embedded database belongs to the one process that opened it.
 */
import { createAppServices } from './feature-deps.js';
import { createStdoutLogger } from './platform/log/logger.js';
import { shutdownTelemetry } from './platform/telemetry/lifecycle.js';
import { closeThenExit, loadConfigOrExit, onShutdownSignals, runEntry } from './process-entry.js';
import { createRuntime } from './runtime.js';

async function worker(): Promise<void> {
  const config = loadConfigOrExit();
  if (config.database.kind !== 'postgres') {
    process.stderr.write('a worker-only process needs DATABASE_URL (PostgreSQL): the embedded database runs its workers in the API process (pnpm dev, pnpm start)\n');
    process.exit(1);
  }
  const logger = await createStdoutLogger(config.logLevel, config.env);
  const runtime = await createRuntime(config, logger);
  const { jobs } = createAppServices({ config, logger, db: runtime.db, redis: runtime.redis, mailer: runtime.mailer });
  jobs.start();
  logger.info({ database: runtime.db.kind, workers: jobs.queueNames }, 'workers started');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing the work in progress');
    const force = setTimeout(() => {
      logger.error('work in progress did not finish in time; exiting (its rows are claimed again when their lease ends)');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    closeThenExit(logger, [() => jobs.stop(), () => runtime.close(), shutdownTelemetry]);
  };
  onShutdownSignals(shutdown);
}

runEntry(worker);
