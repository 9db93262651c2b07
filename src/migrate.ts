import { ConfigError, loadConfig } from './config.js';
import { migrate } from './platform/db/migrator.js';
import { createPostgresDatabase } from './platform/db/postgres.js';
import { createStdoutLogger } from './platform/log/logger.js';

/**
 * Applies pending migrations to DATABASE_URL. `pnpm db:migrate` runs this file through tsx;
 * production runs the compiled `node dist/src/migrate.js` (`pnpm db:migrate:prod`, Render's
 * preDeployCommand, the container's start), which needs production dependencies only.
 */
let config;
try {
  // No warnings: a generated SESSION_SECRET is irrelevant to migrating.
  config = loadConfig(process.env, () => undefined);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const logger = await createStdoutLogger(config.logLevel, config.env);
if (config.database.kind !== 'postgres') {
  logger.error('DATABASE_URL is not set; the embedded database migrates itself at start-up.');
  process.exit(1);
}
const db = createPostgresDatabase({ ...config.database, statementTimeoutMs: 600_000, logger });
try {
  const { applied } = await migrate(db);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'database is up to date');
} finally {
  await db.close();
}
