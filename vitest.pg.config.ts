import { defineConfig } from 'vitest/config';
import { sourceResolution } from './vitest.config.js';

// The PostgreSQL-backed suite. Needs VERITY_TEST_DATABASE_URL; fails (never skips) without it.
export default defineConfig({
  ...sourceResolution,
  test: {
    include: ['packages/*/src/**/*.pg.test.ts', 'e2e/**/*.pg.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 30_000,
    // In CI, also write machine-readable results; .ci/run prints the closing "N passed, N failed".
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.ci-results/postgres.json' },
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
