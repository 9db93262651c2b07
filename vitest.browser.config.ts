import { defineConfig } from 'vitest/config';

// Browser tests drive Debian's chromium with playwright-core. They are their own lane
// (`pnpm test:browser`, run by .ci/run, which installs chromium) so that `pnpm test` needs
// nothing but Node.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['test/support/setup.ts'],
    // The migrated PGlite image createTestApp starts from.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
