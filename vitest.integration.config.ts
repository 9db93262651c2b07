import { defineConfig } from 'vitest/config';

// Integration tests build the real app against PGlite (default) or, when TEST_DATABASE_URL and
// TEST_REDIS_URL are set by `pnpm test:integration:postgres`, against PostgreSQL and Redis. The
// browser lane (chromium) and the resilience lane (built server, throwaway services) have their own
// configs, so `pnpm test` needs nothing but Node.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/resilience/**', 'test/browser/**'],
    environment: 'node',
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
