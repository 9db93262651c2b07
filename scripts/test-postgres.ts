import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrate } from '../src/platform/db/migrator.js';
import { createPostgresDatabase } from '../src/platform/db/postgres.js';
import { createLogger } from '../src/platform/log/logger.js';

/**
 * `pnpm test:integration:postgres`: the same integration suite against real PostgreSQL and
 * Redis. Extra arguments go to vitest.
 *
 * The database is `incident_tracker_it_<random>`, made for this run, or TEST_DATABASE_NAME when
 * set (created if missing). It is dropped afterwards only if this run created it: an existing
 * TEST_DATABASE_NAME is migrated and used as it is, and kept. Every Redis key the run's apps
 * write starts with a prefix of this run (test/support/app.ts), and those keys are deleted at the
 * end, whatever the tests did.
 */
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const runId = randomBytes(6).toString('hex');
const dbName = process.env.TEST_DATABASE_NAME ?? `incident_tracker_it_${runId}`;
if (!/^[a-z_][a-z0-9_]*$/.test(dbName)) throw new Error('TEST_DATABASE_NAME must be a plain identifier');
const redisKeyPrefix = `test:${runId}:`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount !== 0;
if (!exists) await admin.query(`CREATE DATABASE ${dbName}`);
await admin.end();
const createdHere = !exists;

const url = new URL(adminUrl);
url.pathname = `/${dbName}`;
const testUrl = url.toString();

let status = 1;
try {
  const logger = createLogger('warn');
  const db = createPostgresDatabase({ url: testUrl, poolMax: 1, statementTimeoutMs: 600_000, connectionTimeoutMs: 5000, preparedStatements: true, logger });
  try {
    const { applied } = await migrate(db);
    process.stdout.write(`postgres lane: database ${dbName} ${createdHere ? 'created' : 'exists (kept afterwards)'}, ${String(applied.length)} migrations applied\n`);
  } finally {
    await db.close();
  }
  const vitest = spawn('pnpm', ['exec', 'vitest', 'run', '--config', 'vitest.integration.config.ts', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, TEST_DATABASE_URL: testUrl, TEST_REDIS_URL: redisUrl, TEST_REDIS_KEY_PREFIX: redisKeyPrefix },
  });
  // Ctrl-C or a CI timeout stops vitest, and the clean-up below still runs.
  const forward = (signal: NodeJS.Signals) => vitest.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  status = await new Promise<number>((resolve) => vitest.on('close', (code) => { resolve(code ?? 1); }));
} finally {
  if (createdHere) {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
    await cleanup.end();
  }
  const deleted = await deleteKeys(redisUrl, redisKeyPrefix);
  process.stdout.write(`postgres lane: database ${dbName} ${createdHere ? 'dropped' : 'kept (not created by this run)'}, ${String(deleted)} Redis keys under ${redisKeyPrefix} deleted\n`);
}
process.exit(status);

/** SCAN, not KEYS: a shared Redis must not block on one client walking its whole keyspace. */
async function deleteKeys(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
