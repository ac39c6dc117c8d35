/** Tests for the workload agent against an in-process PDP with a real CA: attest, rotate, retry, expire, deny, JWT-SVIDs. */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWorkloadAgent, type WorkloadAgent, type WorkloadAgentOptions } from './agent.js';
import { createFakeWorkloadPdp, type FakeWorkloadPdp } from './agent-test-helpers.js';
import { makeSvid } from './test-helpers.js';

// Short-lived SVIDs renewing in real time: on a loaded machine a renewal can take seconds, so
// every wait is a bounded retry of up to 30 s, inside a test budget that allows for it.
vi.setConfig({ testTimeout: 60_000 });

const agents: WorkloadAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.close()));
});

function agentFor(pdp: FakeWorkloadPdp, extra: Partial<WorkloadAgentOptions> = {}): WorkloadAgent {
  const agent = createWorkloadAgent({
    pdpUrl: pdp.url,
    tenant: 'acme',
    attestation: { attestor: 'join_token', joinToken: 'join-token-secret' },
    fetch: pdp.fetch,
    initialRetryMs: 20,
    ...extra,
  });
  agents.push(agent);
  return agent;
}

const leafSerial = (pem: string | undefined): string => new X509Certificate(pem ?? '').serialNumber.toLowerCase();

describe('createWorkloadAgent', () => {
  it('attests once with the join token and a fresh key, then renews at half-life with a new key each time', async () => {
    const pdp = await createFakeWorkloadPdp({ ttlSec: 2 });
    const agent = agentFor(pdp);
    const seen: string[] = [];
    agent.subscribe(() => {
      const svid = agent.state().svid;
      if (svid && !seen.includes(svid.privateKeyPem)) seen.push(svid.privateKeyPem);
    });
    await agent.start();
    const first = agent.current();
    expect(first.svid.spiffeId).toBe('spiffe://acme.test/billing');
    expect(leafSerial(first.svid.certChainPem[0])).toBe(pdp.issued[0]);
    expect(first.bundle.sequence).toBe(1);
    await vi.waitFor(() => expect(pdp.issued.length).toBeGreaterThanOrEqual(3), { timeout: 30_000, interval: 50 });
    expect(pdp.calls.filter((c) => c.endpoint === 'attest')).toHaveLength(1);
    expect(pdp.calls.filter((c) => c.endpoint === 'renew').length).toBeGreaterThanOrEqual(2);
    // The join token went out once, in the attestation, and nowhere else.
    expect(pdp.calls.filter((c) => JSON.stringify(c.body ?? {}).includes('join-token-secret'))).toHaveLength(1);
    // Each SVID came with its own key; the one held now is the latest issued.
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(pdp.issued).toContain(leafSerial(agent.current().svid.certChainPem[0]));
  });

  it('re-reads the bundle at the poll interval, and takes a renewal answer with a higher sequence at once', async () => {
    const pdp = await createFakeWorkloadPdp();
    const agent = agentFor(pdp, { pollIntervalMs: 100 });
    await agent.start();
    await pdp.rotate();
    await vi.waitFor(() => expect(agent.current().bundle.sequence).toBe(2), { timeout: 20_000, interval: 20 });
    expect(agent.current().bundle.x509Authorities).toEqual(pdp.bundle().x509Authorities);
    expect(pdp.calls.filter((c) => c.endpoint === 'renew')).toHaveLength(0);
  });

  it('after a CA rotation, presents the SVID under the new root only once peers had time to learn the root', async () => {
    // Long enough that the hold-back (capped at half the old SVID's remaining life) is never
    // shortened by a renewal delayed on a loaded machine.
    const pdp = await createFakeWorkloadPdp({ ttlSec: 8 });
    const agent = agentFor(pdp, { pollIntervalMs: 60_000, rootPropagationMs: 400 });
    const events: Array<{ at: number; sequence: number; intermediate: string }> = [];
    agent.subscribe(() => {
      const { svid, bundle } = agent.state();
      if (svid && bundle) events.push({ at: Date.now(), sequence: bundle.sequence, intermediate: svid.certChainPem[1] ?? '' });
    });
    await agent.start();
    const oldIntermediate = agent.current().svid.certChainPem[1];
    await pdp.rotate();
    await vi.waitFor(() => expect(agent.current().svid.certChainPem[1]).toBe(pdp.authority().intermediatePem), { timeout: 30_000, interval: 20 });
    const bundleAt = events.find((e) => e.sequence === 2)?.at ?? Number.NaN;
    const switchAt = events.find((e) => e.intermediate !== oldIntermediate)?.at ?? Number.NaN;
    // The renewal answer brought the new root; the old SVID stayed in use ~400 ms more.
    expect(switchAt - bundleAt).toBeGreaterThanOrEqual(350);
    expect(events.find((e) => e.at >= bundleAt)?.intermediate).toBe(oldIntermediate);
  });

  it('retries a failed renewal with backoff and keeps serving the valid SVID meanwhile', async () => {
    const pdp = await createFakeWorkloadPdp({ ttlSec: 3 });
    const errors: unknown[] = [];
    const agent = agentFor(pdp, { onError: (e) => errors.push(e) });
    await agent.start();
    pdp.fail('renew', 503, 2);
    pdp.fail('renew', 0, 1);
    let gaps = 0;
    await vi.waitFor(
      () => {
        try {
          agent.current();
        } catch {
          gaps++;
        }
        expect(pdp.issued.length).toBe(2);
      },
      { timeout: 30_000, interval: 10 },
    );
    expect(gaps).toBe(0);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['ERR_INTERNAL', 'ERR_INTERNAL', 'ERR_INTERNAL']);
    expect(pdp.calls.filter((c) => c.endpoint === 'renew').length).toBe(4);
  });

  it('never serves an expired SVID: drops to none, reports ERR_SVID_EXPIRED, and a join token is not sent again', async () => {
    const pdp = await createFakeWorkloadPdp({ ttlSec: 2 });
    const errors: string[] = [];
    const agent = agentFor(pdp, { onError: (e) => errors.push((e as { code: string }).code), maxRetryMs: 50 });
    let notified = 0;
    agent.subscribe(() => notified++);
    await agent.start();
    pdp.fail('renew', 503, 1000);
    await vi.waitFor(() => expect(agent.state().svid).toBeNull(), { timeout: 20_000, interval: 20 });
    expect(() => agent.current()).toThrow(expect.objectContaining({ code: 'ERR_SVID_EXPIRED' }));
    expect(agent.state().error?.code).toBe('ERR_SVID_EXPIRED');
    expect(errors).toContain('ERR_SVID_EXPIRED');
    expect(notified).toBeGreaterThanOrEqual(2);
    await new Promise((wait) => setTimeout(wait, 200));
    expect(pdp.calls.filter((c) => c.endpoint === 'attest')).toHaveLength(1);
  });

  it('checks expiry on every read, not only by its timer (a clock that jumped)', async () => {
    const pdp = await createFakeWorkloadPdp();
    let skew = 0;
    const agent = agentFor(pdp, { now: () => Date.now() + skew });
    await agent.start();
    expect(agent.current().svid.spiffeId).toBe('spiffe://acme.test/billing');
    skew = 2 * 3600_000;
    expect(() => agent.current()).toThrow(expect.objectContaining({ code: 'ERR_SVID_EXPIRED' }));
  });

  it('k8s_psat: reads the token file at each attestation and attests again after an expiry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-agent-'));
    try {
      const tokenFile = join(dir, 'token');
      await writeFile(tokenFile, 'k8s-token-1\n');
      const pdp = await createFakeWorkloadPdp({ ttlSec: 2, k8sToken: 'k8s-token-1' });
      const agent = agentFor(pdp, { attestation: { attestor: 'k8s_psat', tokenFile }, maxRetryMs: 100 });
      await agent.start();
      expect(pdp.calls[0]?.body).toMatchObject({ attestor: 'k8s_psat', token: 'k8s-token-1' });
      pdp.fail('renew', 503, 1000);
      await vi.waitFor(() => expect(pdp.calls.filter((c) => c.endpoint === 'attest').length).toBeGreaterThanOrEqual(2), { timeout: 20_000, interval: 20 });
      await vi.waitFor(() => expect(agent.current().svid.expiresAtMs).toBeGreaterThan(Date.now()), { timeout: 20_000, interval: 20 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('polls the deny list with the PEP credential and tells subscribers when it changes', async () => {
    const pdp = await createFakeWorkloadPdp();
    const agent = agentFor(pdp, { pepCredential: 'pep-secret', pollIntervalMs: 50 });
    let notified = 0;
    agent.subscribe(() => notified++);
    await agent.start();
    expect(agent.current().denied.size).toBe(0);
    const before = notified;
    pdp.deny('spiffe://acme.test/retired');
    await vi.waitFor(() => expect(agent.current().denied.has('spiffe://acme.test/retired')).toBe(true), { timeout: 20_000, interval: 20 });
    expect(notified).toBe(before + 1);
    expect(pdp.calls.filter((c) => c.endpoint === 'denied').every((c) => c.authorization === 'Bearer pep-secret')).toBe(true);
  });

  it('JWT-SVIDs: one proof-backed request per audience while the token has more than half its life left', async () => {
    const pdp = await createFakeWorkloadPdp();
    const agent = agentFor(pdp);
    await agent.start();
    const a = await agent.jwtSvid(['spiffe://acme.test/orders']);
    const b = await agent.jwtSvid(['spiffe://acme.test/orders']);
    const c = await agent.jwtSvid(['spiffe://acme.test/ledger']);
    expect(b.token).toBe(a.token);
    expect(c.token).not.toBe(a.token);
    expect(a.expiresAtMs).toBeGreaterThan(Date.now());
    const calls = pdp.calls.filter((call) => call.endpoint === 'jwt-svid');
    expect(calls.map((call) => call.body?.['audience'])).toEqual([['spiffe://acme.test/orders'], ['spiffe://acme.test/ledger']]);
    await expect(agent.jwtSvid([])).rejects.toMatchObject({ code: 'ERR_REQUEST_INVALID' });
  });

  it('start() fails at once on a refused join token, with no secret in the message; network failures are retried', async () => {
    const pdp = await createFakeWorkloadPdp();
    const refused = agentFor(pdp, { attestation: { attestor: 'join_token', joinToken: 'wrong-token-value' } });
    const error = (await refused.start().catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('ERR_JOIN_TOKEN_INVALID');
    expect(error.message).not.toContain('wrong-token-value');
    expect(pdp.calls).toHaveLength(1);

    pdp.fail('attest', 0, 2);
    const retried = agentFor(pdp);
    await retried.start();
    expect(pdp.calls.filter((c) => c.endpoint === 'attest')).toHaveLength(4);
    const down = await createFakeWorkloadPdp();
    down.fail('attest', 0, 5);
    await expect(agentFor(down, { attestAttempts: 2 }).start()).rejects.toMatchObject({ code: 'ERR_INTERNAL' });
    expect(down.calls).toHaveLength(2);
  });

  it('refuses an answer whose certificate is not for the key it generated', async () => {
    const pdp = await createFakeWorkloadPdp();
    const other = await makeSvid(pdp.authority(), 'spiffe://acme.test/billing');
    const swapping: typeof fetch = async (input, init) => {
      const response = await pdp.fetch(input, init);
      const body = (await response.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, x509_svid: other.certChainPem }), { status: response.status });
    };
    const agent = agentFor(pdp, { fetch: swapping });
    await expect(agent.start()).rejects.toMatchObject({ code: 'ERR_SVID_INVALID' });
  });

  it('stops calling the PDP once closed', async () => {
    const pdp = await createFakeWorkloadPdp({ ttlSec: 2 });
    const agent = agentFor(pdp, { pollIntervalMs: 20, pepCredential: 'pep-secret' });
    await agent.start();
    await agent.close();
    const count = pdp.calls.length;
    await new Promise((wait) => setTimeout(wait, 1200));
    expect(pdp.calls.length).toBe(count);
    await expect(agent.start()).rejects.toMatchObject({ code: 'ERR_SHUTTING_DOWN' });
  });

  it.each<[string, Record<string, unknown>]>([
    ['an unknown option', { colour: 'blue' }],
    ['plain http to another machine', { pdpUrl: 'http://pdp.example.com' }],
    ['no tenant', { tenant: '' }],
    ['an attestation without a token', { attestation: { attestor: 'join_token', joinToken: '' } }],
    ['an unknown attestor', { attestation: { attestor: 'aws_iid' } }],
    ['a bad poll interval', { pollIntervalMs: 0 }],
  ])('throws TypeError for %s', (_, bad) => {
    const options = { pdpUrl: 'https://pdp.example.com', tenant: 'acme', attestation: { attestor: 'join_token', joinToken: 't' }, ...bad };
    expect(() => createWorkloadAgent(options as unknown as WorkloadAgentOptions)).toThrow(TypeError);
  });
});
