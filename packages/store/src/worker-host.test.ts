import { VerityError } from '@verity/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorkerHost, type WorkerHost } from './worker-host.js';

const WORKER = new URL('./worker-host.test-worker.mjs', import.meta.url);
const unavailable = (why: string) => new VerityError('ERR_STORE_UNAVAILABLE', `test worker: ${why}`);

describe('startWorkerHost from the sources', () => {
  const flags = [...process.execArgv];
  let host: WorkerHost | undefined;
  afterEach(async () => {
    process.execArgv.splice(0, process.execArgv.length, ...flags);
    await host?.stop();
  });

  async function resolvedInWorker(): Promise<{ resolved: string; execArgv: string[] }> {
    host = await startWorkerHost(WORKER, { name: 'verity-test', unavailable });
    return (await host.call({})) as { resolved: string; execArgv: string[] };
  }

  it("gives the worker this thread's flags and the verity-source condition: @verity/* resolve to src", async () => {
    const { resolved, execArgv } = await resolvedInWorker();
    expect(resolved).toMatch(/\/packages\/core\/src\/audit-hash\.mjs$/);
    expect(execArgv).toEqual([...flags, '--conditions=verity-source']);
  });

  it('beside a flag workers refuse (--max-old-space-size), starts the worker with the condition alone', async () => {
    process.execArgv.push('--max-old-space-size=512');
    const { resolved, execArgv } = await resolvedInWorker();
    expect(execArgv).toEqual(['--conditions=verity-source']);
    expect(resolved).toMatch(/\/packages\/core\/src\/audit-hash\.mjs$/);
  });
});
