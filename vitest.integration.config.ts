import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

// Integration tests build the real app against PGlite (default) or, when TEST_DATABASE_URL and
// TEST_REDIS_URL are set by `pnpm test:integration:postgres`, against PostgreSQL and Redis. The
// browser lane (chromium), the resilience lane (built server, throwaway services) and the failover
// lane (pg_auto_failover) have their own
// configs, so `pnpm test` needs nothing but Node.
//
// A worker process runs file after file (isolate: false): importing the app and starting PGlite
// once per worker instead of once per file is most of what keeps the suite within a few minutes on
// two cores. The telemetry files register process-wide OpenTelemetry providers, so they keep a
// process each.
const TELEMETRY = 'test/telemetry/**/*.test.ts';
const common: TestProjectInlineConfiguration['test'] = {
  environment: 'node',
  setupFiles: ['test/support/setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
  pool: 'forks',
};

export default defineConfig({
  test: {
    // Here, not in the projects: it runs once for the whole run and provides to both.
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      { test: { ...common, name: 'shared', include: ['test/**/*.test.ts'], exclude: ['test/resilience/**', 'test/ha/**', 'test/browser/**', 'test/e2e/**', TELEMETRY], isolate: false } },
      { test: { ...common, name: 'telemetry', include: [TELEMETRY] } },
    ],
  },
});
