import { defineConfig } from 'vitest/config';

// `pnpm test:ha`: the built server against a pg_auto_failover formation (a monitor and three
// data nodes) the suite starts under a temporary directory; the primary is killed, then switched
// over, while clients write; then replica reads against a streaming standby of a throw-away
// primary (replica-reads.test.ts). One file at a time: nothing else runs alongside.
export default defineConfig({
  test: {
    include: ['test/ha/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/ha/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 240_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
