/**
 * Every core: `verity serve --workers 2` on a PGlite data folder, real processes. The primary
 * holds the folder and relays the store; two worker processes answer on one port. What one
 * worker writes (a policy version, a revoked credential, an entity) is what every worker
 * decides on as soon as the write has returned; a killed worker is replaced; a stop under load
 * exits 0 and every answered decision is in the audit, whose chain verifies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runClusterScenario } from './helpers/cluster-scenario.js';
import { killAll, type ServeProcess } from './helpers/serve-process.js';

const PROCESSES_MS = 180_000;

let folder: string;
const processes: ServeProcess[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'verity-cluster-'));
});

afterAll(async () => {
  await killAll(processes);
  await rm(folder, { recursive: true, force: true });
});

describe('verity serve --workers 2 (PGlite data folder, real processes)', () => {
  it(
    'writes through one worker are decided on by every worker once they return; a killed worker is replaced; a stop under load loses nothing',
    () => runClusterScenario({ storeArgs: ['--data', join(folder, 'data')], consistency: 'immediate', processes }),
    PROCESSES_MS,
  );
});
