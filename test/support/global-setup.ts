/**
 * The postgres lane's database is created and migrated by scripts/test-postgres.ts before vitest
 * starts; PGlite files migrate their own in-memory databases. Nothing to do globally beyond
 * refusing to run the postgres lane half-configured.
 */
export default function setup(): void {
  if ((process.env.TEST_DATABASE_URL === undefined) !== (process.env.TEST_REDIS_URL === undefined)) {
    throw new Error('set both TEST_DATABASE_URL and TEST_REDIS_URL, or neither');
  }
}
