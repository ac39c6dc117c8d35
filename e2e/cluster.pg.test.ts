/**
 * Every core on PostgreSQL: `verity serve --workers 2 --database-url …`, real processes. Each
 * worker opens its own pool and hears the change feed on its own connection, as replicas do:
 * a write through one worker is decided on by every worker within the staleness bound; a
 * killed worker is replaced; a stop under load exits 0 with every answered decision audited.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runClusterScenario } from './helpers/cluster-scenario.js';
import { createScratchDatabase } from './helpers/postgres.js';
import { killAll, type ServeProcess } from './helpers/serve-process.js';

const PROCESSES_MS = 180_000;

let database: { url: string; drop(): Promise<void> };
const processes: ServeProcess[] = [];

beforeAll(async () => {
  database = await createScratchDatabase();
});

afterAll(async () => {
  await killAll(processes);
  await database?.drop();
});

describe('verity serve --workers 2 (PostgreSQL, real processes)', () => {
  it(
    'writes through one worker are decided on by every worker within the staleness bound; a killed worker is replaced; a stop under load loses nothing',
    () => runClusterScenario({ storeArgs: ['--database-url', database.url], consistency: 'bounded', processes }),
    PROCESSES_MS,
  );
});
