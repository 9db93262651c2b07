import type { Server } from 'node:http';
import { buildApp } from './app.js';
import { createStdoutLogger } from './platform/log/logger.js';
import { shutdownTelemetry } from './platform/telemetry/lifecycle.js';
import { closeThenExit, loadConfigOrExit, onShutdownSignals, runEntry } from './process-entry.js';
import { createRuntime } from './runtime.js';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = await createStdoutLogger(config.logLevel, config.env);
  const runtime = await createRuntime(config, logger);
  const built = buildApp({ config, logger, db: runtime.db, redis: runtime.redis, mailer: runtime.mailer });

  // Express 5 hands a listen error (port taken, no permission) to this callback instead of
  // throwing: without the check the process would log "listening" and run without a socket.
  const server: Server = built.app.listen(config.port, config.host, (err?: Error) => {
    if (err) {
      const code = (err as NodeJS.ErrnoException).code ?? err.message;
      process.stderr.write(`cannot listen on ${config.host}:${String(config.port)} (PORT): ${code}\n`);
      logger.fatal({ port: config.port, host: config.host, code }, 'cannot listen');
      built.close();
      void runtime.close().finally(() => process.exit(1));
      return;
    }
    // Unless WORKERS=off: then a worker process runs the queues.
    if (config.workers) built.jobs.start();
    logger.info(
      { port: config.port, database: runtime.db.kind, sessions: runtime.redis ? 'redis' : 'memory', workers: config.workers ? built.jobs.queueNames : [] },
      'listening',
    );
  });
  server.keepAliveTimeout = 5000;

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => {
      logger.error('drain timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    force.unref();
    // Open event streams would hold the drain until its timeout: end them now, and their clients
    // reconnect (to another node) with Last-Event-ID.
    built.eventHub.close().catch((err: unknown) => {
      logger.warn({ err }, 'error while ending event streams');
    });
    // Stop accepting; idle keep-alive sockets are closed so the drain is not held by them.
    server.close(() => {
      built.close();
      // Work the last requests started after answering (it queues mail), then the workers' runs
      // in progress; telemetry last, so the spans of the final requests are flushed too.
      closeThenExit(logger, [() => built.deps.afterResponse.settled(), () => built.jobs.stop(), () => runtime.close(), shutdownTelemetry]);
    });
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
    }, config.shutdownTimeoutMs).unref();
  };
  onShutdownSignals(shutdown);
}

runEntry(main);
