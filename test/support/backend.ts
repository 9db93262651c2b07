/**
 * Which backend the integration suite runs on. `pnpm test:integration:postgres` sets
 * TEST_DATABASE_URL and TEST_REDIS_URL; otherwise every test file gets its own in-memory PGlite
 * and in-process session store.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
export const onPostgres = TEST_DATABASE_URL !== undefined;
