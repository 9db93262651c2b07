import { defineConfig } from 'vitest/config';

// `pnpm test:resilience`: the built server as a child process against this machine's PostgreSQL,
// throwaway Redis servers, an SMTP sink and PgBouncer, with faults injected from outside. Files
// run one at a time so that measured latencies are not skewed by another scenario's load.
export default defineConfig({
  test: {
    include: ['test/resilience/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/resilience/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
