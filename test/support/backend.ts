/**
 * Which backend the integration suite runs on. `pnpm test:integration:postgres` sets
 * TEST_DATABASE_URL and TEST_REDIS_URL; otherwise each worker process has one in-memory PGlite
 * (from the migrated image of global-setup.ts) and every app its own in-process session store.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
/** Set per run by the postgres lane, which deletes every key under it at the end. */
export const TEST_REDIS_KEY_PREFIX = process.env.TEST_REDIS_KEY_PREFIX ?? 'test:';
export const onPostgres = TEST_DATABASE_URL !== undefined;
