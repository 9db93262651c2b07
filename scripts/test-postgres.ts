import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { migrate } from '../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../src/platform/db/postgres.js';
import { createLogger } from '../src/platform/log/logger.js';

/**
 * `pnpm test:integration:postgres`: the same integration suite against real PostgreSQL and
 * Redis. Creates a fresh database (dropping a previous run's), migrates it, then runs vitest
 * with TEST_DATABASE_URL and TEST_REDIS_URL. Extra arguments go to vitest.
 */
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dbName = process.env.TEST_DATABASE_NAME ?? 'incident_tracker_it';
if (!/^[a-z_][a-z0-9_]*$/.test(dbName)) throw new Error('TEST_DATABASE_NAME must be a plain identifier');

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${dbName}`);
await admin.end();

const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const testUrl = url.toString();

const logger = createLogger('warn');
const db = createPostgresDatabase({ url: testUrl, poolMax: 1, statementTimeoutMs: 600_000, connectionTimeoutMs: 5000, preparedStatements: true, logger });
const { applied } = await migrate(db);
await db.close();
process.stdout.write(`postgres lane: database ${dbName} created, ${applied.length} migrations applied\n`);

const result = spawnSync(
  'pnpm',
  ['exec', 'vitest', 'run', '--config', 'vitest.integration.config.ts', ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, TEST_DATABASE_URL: testUrl, TEST_REDIS_URL: redisUrl } },
);
process.exit(result.status ?? 1);
