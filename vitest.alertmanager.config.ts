import { defineConfig } from 'vitest/config';

// `pnpm test:alertmanager`: the app (embedded PGlite) on a free port, and Debian's real
// Prometheus Alertmanager sending to its two ingestion routes. Not part of `pnpm test`: it needs
// the `alertmanager` binary (`.ci/run` installs `prometheus-alertmanager`; without it the lane
// skips with a printed reason).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
