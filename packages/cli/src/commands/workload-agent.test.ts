/** Tests for `workload agent`: flags become agent options, the socket is served until abort; and a real agent against an in-process PDP. */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as workload from '@verity/workload';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFakeAgent, createFakeWorkloadPdp } from '../../../workload/src/agent-test-helpers.js';
import { makeSvid, makeTrustDomain } from '../../../workload/src/test-helpers.js';
import type { CommandIo } from '../command.js';
import { EXIT } from '../errors.js';
import { runCli } from '../run-cli.js';
import { createTestIo, run } from '../test-helpers.js';
import { createWorkloadAgentCommand, type WorkloadAgentModule } from './workload-agent.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-cli-agent-'));
  await writeFile(join(dir, 'join-token'), '  join-token-secret\n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the command with `module` until `whileRunning` is done, then aborts it (by default it ends by itself). */
async function runAgent(argv: string[], module: WorkloadAgentModule, whileRunning: (out: () => string) => Promise<void> = () => new Promise(() => {}), io: Partial<CommandIo> = {}) {
  const controller = new AbortController();
  const testIo = createTestIo({ cwd: dir, signal: controller.signal, ...io });
  const pending = runCli(['workload', 'agent', ...argv], testIo, [createWorkloadAgentCommand(async () => module)]);
  const settled = await Promise.race([pending.then(() => true), whileRunning(testIo.out).then(() => false)]);
  if (!settled) controller.abort();
  const code = await pending;
  return { code, out: testIo.out(), err: testIo.err() };
}

describe('verity workload agent', () => {
  it('passes the flags on, serves the socket with the mode asked for, and stops on abort', async () => {
    const domain = await makeTrustDomain('acme.test');
    const svid = await makeSvid(domain.authority, 'spiffe://acme.test/billing');
    const options: unknown[] = [];
    let closed = 0;
    const module: WorkloadAgentModule = {
      ...workload,
      createWorkloadAgent: (given) => {
        options.push(given);
        const fake = createFakeAgent();
        return {
          ...fake,
          start: async () => fake.set({ svid, bundle: domain.bundle }),
          current: () => ({ svid, bundle: domain.bundle, denied: new Set<string>() }),
          refresh: async () => {},
          close: async () => void closed++,
        };
      },
    };
    const socket = join(dir, 'agent.sock');
    const argv = ['--pdp', 'https://pdp.example.com', '-t', 'acme', '--join-token-file', 'join-token', '--socket', 'agent.sock', '--socket-mode', '660', '--poll-interval', '2000'];
    const result = await runAgent(argv, module, async (out) => {
      await vi.waitFor(() => expect(out()).toContain('serving'));
      expect((await stat(socket)).mode & 0o777).toBe(0o660);
      expect((await workload.createWorkloadApiClient({ socketPath: socket }).x509Svid()).svid.spiffeId).toBe('spiffe://acme.test/billing');
    }, { env: { VERITY_PEP_TOKEN: 'pep-secret' } });
    expect(result.code).toBe(EXIT.OK);
    expect(options).toEqual([
      expect.objectContaining({ pdpUrl: 'https://pdp.example.com', tenant: 'acme', attestation: { attestor: 'join_token', joinToken: 'join-token-secret' }, pepCredential: 'pep-secret', pollIntervalMs: 2000 }),
    ]);
    expect(result.out).toBe(`workload agent for spiffe://acme.test/billing serving ${socket} (SVID expires ${new Date(svid.expiresAtMs).toISOString()})\n`);
    expect(result.err).toBe('workload agent stopped\n');
    expect(closed).toBe(1);
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs a real agent: attests, renews, and `workload svid` reads what it serves; the join token is never printed', async () => {
    const pdp = await createFakeWorkloadPdp({ ttlSec: 2 });
    const socket = join(dir, 'agent.sock');
    const argv = ['--pdp', pdp.url, '--tenant', 'acme', '--join-token-file', 'join-token', '--socket', socket, '--json'];
    const result = await runAgent(argv, workload, async (out) => {
      await vi.waitFor(() => expect(out()).toContain('"spiffe_id"'), { timeout: 5000 });
      await vi.waitFor(() => expect(pdp.issued.length).toBeGreaterThanOrEqual(2), { timeout: 5000 });
      const svid = await run(['workload', 'svid', '--socket', socket]);
      expect(svid.out).toMatch(/^spiffe:\/\/acme.test\/billing\nexpires /);
    }, { fetch: pdp.fetch });
    expect(result.code).toBe(EXIT.OK);
    expect(JSON.parse(result.out)).toMatchObject({ spiffe_id: 'spiffe://acme.test/billing', socket });
    expect(result.err).toContain('SVID renewed, expires');
    expect(result.out + result.err).not.toContain('join-token-secret');
  });

  it('exits 5 when the PDP refuses the join token, naming no secret', async () => {
    const pdp = await createFakeWorkloadPdp({ joinToken: 'another-token' });
    const result = await runAgent(['--pdp', pdp.url, '-t', 'acme', '--join-token-file', 'join-token', '--socket', 'a.sock'], workload, undefined, { fetch: pdp.fetch });
    expect(result.code).toBe(EXIT.AUTH);
    expect(result.err).toContain('the PDP refused attest');
    expect(result.err).not.toContain('join-token-secret');
  });

  it.each([
    [['--tenant', 'acme', '--join-token-file', 'join-token', '--socket', 's'], 'no --pdp'],
    [['--pdp', 'https://p', '--join-token-file', 'join-token', '--socket', 's'], 'no --tenant'],
    [['--pdp', 'https://p', '-t', 'acme', '--socket', 's'], 'no token file'],
    [['--pdp', 'https://p', '-t', 'acme', '--join-token-file', 'join-token', '--k8s-token-file', 'k', '--socket', 's'], 'two token files'],
    [['--pdp', 'https://p', '-t', 'acme', '--join-token-file', 'join-token'], 'no --socket'],
    [['--pdp', 'https://p', '-t', 'acme', '--join-token-file', 'join-token', '--socket', 's', '--socket-mode', '666'], 'a socket open to others'],
    [['--pdp', 'http://pdp.example.com', '-t', 'acme', '--join-token-file', 'join-token', '--socket', 's'], 'plain http to another machine'],
  ])('usage error (exit 2): %j (%s)', async (argv) => {
    const result = await run(['workload', 'agent', ...argv], { cwd: dir });
    expect(result.code).toBe(EXIT.USAGE);
  });
});
