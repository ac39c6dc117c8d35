/**
 * Vitest global setup: initializes one in-memory PGlite database before the run and points
 * VERITY_PGLITE_FRESH_COPY at a copy of its data folder, so the test processes (one per test
 * file, and the `verity serve` children they start) restore it instead of each running initdb:
 * seconds of Wasm per process, minutes over the suite on a loaded machine. The store's own
 * driver tests clear the variable where they test initdb itself. Removed after the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGLITE_FRESH_COPY_ENV, writePgliteFreshCopy } from '@verity/store';

export async function setup(): Promise<() => void> {
  const folder = mkdtempSync(join(tmpdir(), 'verity-pglite-fresh-'));
  const file = join(folder, 'fresh.tar');
  await writePgliteFreshCopy(file);
  process.env[PGLITE_FRESH_COPY_ENV] = file;
  return () => {
    delete process.env[PGLITE_FRESH_COPY_ENV];
    rmSync(folder, { recursive: true, force: true });
  };
}
