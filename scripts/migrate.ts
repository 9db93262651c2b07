import { loadConfig } from '../src/config.js';
import { migrate } from '../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../src/platform/db/postgres.js';
import { createLogger } from '../src/platform/log/logger.js';

/** `pnpm db:migrate`: applies pending migrations to DATABASE_URL. */
const config = loadConfig();
const logger = createLogger(config.logLevel);
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
