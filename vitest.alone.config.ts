import { defineConfig } from 'vitest/config';
import { ALONE, sourceResolution } from './vitest.config.js';

// The latency-bound tests, one file at a time (`npm run test:alone`, a step of .ci/run); see ALONE.
export default defineConfig({
  ...sourceResolution,
  test: {
    include: ALONE,
    exclude: ['**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    setupFiles: ['e2e/helpers/slow-requests.ts'],
    globalSetup: ['e2e/helpers/log-check.ts', 'e2e/helpers/pglite-fresh-copy.ts'],
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.ci-results/alone.json' },
  },
});
