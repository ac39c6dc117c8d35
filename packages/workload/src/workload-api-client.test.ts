/** Tests for the Workload API client and the SvidSource that follows the watch stream, against the real server on a socket. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VerityError } from '@verity/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFakeAgent, type FakeAgent } from './agent-test-helpers.js';
import type { X509Svid } from './svid-source.js';
import { makeSvid, makeTrustDomain } from './test-helpers.js';
import type { TrustBundle } from './trust-bundle.js';
import { createWorkloadApiClient, createWorkloadApiSource, type WorkloadApiSource } from './workload-api-client.js';
import { serveWorkloadApi, type WorkloadApiServer } from './workload-api-server.js';

// Short-lived SVIDs renewing in real time: on a loaded machine a renewal can take seconds, so
// every wait is a bounded retry of up to 30 s, inside a test budget that allows for it.
vi.setConfig({ testTimeout: 60_000 });

const ID = 'spiffe://acme.test/billing';
let bundle: TrustBundle;
let svid: X509Svid;
let renewed: X509Svid;
let dir: string;
let socketPath: string;
let agent: FakeAgent;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const domain = await makeTrustDomain('acme.test');
  bundle = domain.bundle;
  svid = await makeSvid(domain.authority, ID);
  renewed = await makeSvid(domain.authority, ID);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'verity-wapi-client-'));
  socketPath = join(dir, 'agent.sock');
  agent = createFakeAgent({ svid, bundle, denied: new Set(['spiffe://acme.test/gone']) });
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(): Promise<WorkloadApiServer> {
  const api = await serveWorkloadApi({ socketPath, agent });
  closers.push(() => api.close());
  return api;
}

function source(extra: Partial<Parameters<typeof createWorkloadApiSource>[0]> = {}): WorkloadApiSource {
  const created = createWorkloadApiSource({ socketPath, initialBackoffMs: 20, maxBackoffMs: 100, ...extra });
  closers.push(() => created.close());
  return created;
}

describe('createWorkloadApiClient', () => {
  it('reads the SVID, a JWT-SVID and the bundle; passes the agent’s error codes on', async () => {
    await serve();
    const client = createWorkloadApiClient({ socketPath });
    closers.push(() => client.close());
    const state = await client.x509Svid();
    expect(state.svid).toEqual(svid);
    expect(state.bundle).toEqual(bundle);
    expect([...state.denied]).toEqual(['spiffe://acme.test/gone']);
    expect(await client.jwtSvid(['spiffe://acme.test/orders'])).toMatchObject({ token: 'jwt-for-spiffe://acme.test/orders' });
    expect(await client.bundle()).toEqual(bundle);
    agent.set({ svid: null, error: new VerityError('ERR_SVID_EXPIRED', 'the SVID expired') });
    await expect(client.x509Svid()).rejects.toMatchObject({ code: 'ERR_SVID_EXPIRED' });
    await expect(client.jwtSvid(['x'])).rejects.toMatchObject({ code: 'ERR_STARTING' });
  });

  it('fails with the socket error when no agent listens', async () => {
    const client = createWorkloadApiClient({ socketPath });
    closers.push(() => client.close());
    await expect(client.x509Svid()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('createWorkloadApiSource', () => {
  it('is ready on the first state and tells subscribers of every rotation and deny-list change', async () => {
    await serve();
    const src = source();
    let notified = 0;
    src.subscribe(() => notified++);
    await src.ready();
    expect(src.current().svid.privateKeyPem).toBe(svid.privateKeyPem);
    expect(src.current().bundle).toEqual(bundle);
    agent.set({ svid: renewed });
    await vi.waitFor(() => expect(src.current().svid.privateKeyPem).toBe(renewed.privateKeyPem));
    agent.set({ denied: new Set() });
    await vi.waitFor(() => expect(src.current().denied.size).toBe(0));
    expect(notified).toBe(3);
  });

  it('waits for an agent that is not there yet, and reconnects when the stream drops, keeping the last SVID meanwhile', async () => {
    const errors: unknown[] = [];
    const src = source({ onError: (e) => errors.push(e) });
    await new Promise((wait) => setTimeout(wait, 100));
    expect(() => src.current()).toThrow(expect.objectContaining({ code: 'ERR_STARTING' }));
    expect(errors.length).toBeGreaterThan(0);
    const first = await serve();
    await src.ready();
    await first.close();
    expect(src.current().svid.privateKeyPem).toBe(svid.privateKeyPem);
    agent = createFakeAgent({ svid: renewed, bundle });
    await serve();
    await vi.waitFor(() => expect(src.current().svid.privateKeyPem).toBe(renewed.privateKeyPem), { timeout: 20_000 });
  });

  it('drops the SVID when the agent says it has none, and never serves an expired one', async () => {
    await serve();
    let skew = 0;
    const src = source({ now: () => Date.now() + skew });
    await src.ready();
    agent.set({ svid: null, error: new VerityError('ERR_SVID_EXPIRED', 'the SVID expired') });
    await vi.waitFor(() => expect(() => src.current()).toThrow(expect.objectContaining({ code: 'ERR_SVID_EXPIRED' })));
    agent.set({ svid, error: null });
    await vi.waitFor(() => expect(src.current().svid.spiffeId).toBe(ID));
    skew = svid.expiresAtMs - Date.now() + 1;
    expect(() => src.current()).toThrow(expect.objectContaining({ code: 'ERR_SVID_EXPIRED' }));
  });

  it('ready() rejects when closed before the first state; JWT-SVIDs come from the agent', async () => {
    const early = createWorkloadApiSource({ socketPath });
    const ready = early.ready();
    await early.close();
    await expect(ready).rejects.toMatchObject({ code: 'ERR_SHUTTING_DOWN' });
    await serve();
    const src = source();
    expect(await src.jwtSvid(['spiffe://acme.test/orders'])).toMatchObject({ token: 'jwt-for-spiffe://acme.test/orders' });
  });
});
