/** The SSF transmitter: a revocation's SET, pushed to a real local receiver, with bounded retries and backoff. */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing, createSourceFetch, type SigningKeyRing } from '@verity/identity';
import { createPgliteDatabase, createStore, type Store } from '@verity/store';
import { createSsfTransmitter, revocationSubject, type DeliveryReport } from './ssf-transmitter.js';

const NOW_MS = Date.UTC(2026, 11, 1, 12);
const ISSUER = 'https://verity.example.com/tenants/acme';

let store: Store;
let ring: SigningKeyRing;
let receiver: Server;
let endpoint: string;
/** Statuses the receiver answers with, in order (then 202). */
let script: number[] = [];
const bodies: string[] = [];

beforeAll(async () => {
  store = await createStore(await createPgliteDatabase());
  await store.tenants.create({ id: 'acme', name: 'Acme', settings: {} });
  ring = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => NOW_MS });
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      bodies.push(body);
      response.writeHead(script.shift() ?? 202).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/events`;
});
afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
  await store.close();
});

function transmitter(reports: DeliveryReport[], waits: number[], options: { allowInsecure?: boolean } = {}) {
  return createSsfTransmitter({
    store,
    ring: () => ring,
    issuerUrl: () => ISSUER,
    fetch: createSourceFetch({ allowInsecure: true }),
    allowInsecure: options.allowInsecure ?? true,
    now: () => NOW_MS,
    maxAttempts: 3,
    backoffMs: 100,
    sleep: async (ms) => void waits.push(ms),
    onDelivery: (report) => reports.push(report),
  });
}

describe('SSF transmitter', () => {
  it('names the subject, client or token of a revocation as SSF subjects', () => {
    expect(revocationSubject({ subject: 'alice' })).toEqual({ format: 'opaque', id: 'alice' });
    expect(revocationSubject({ client: 'mobile' })).toEqual({ application: { format: 'opaque', id: 'mobile' } });
    expect(revocationSubject({ jti: 't-1', exp: 1 })).toEqual({ session: { format: 'opaque', id: 't-1' } });
    expect(revocationSubject({ job: 'nightly-export' })).toBeUndefined();
  });

  it('retries a failing receiver with doubling backoff, then delivers a SET signed by the ring', async () => {
    const reports: DeliveryReport[] = [];
    const waits: number[] = [];
    const ssf = transmitter(reports, waits);
    await ssf.putReceiver('acme', 'rp', { endpoint, audience: 'https://rp.example.com' });
    script = [503, 500];
    bodies.length = 0;
    ssf.emitRevocation('acme', { subject: 'alice' });
    await ssf.idle();
    expect(reports).toEqual([{ tenant: 'acme', receiver: 'rp', outcome: 'delivered', attempts: 3, status: 202 }]);
    expect(waits).toEqual([100, 200]);
    // The same SET each attempt (one jti), verifiable with the ring's published keys.
    expect(new Set(bodies).size).toBe(1);
    const { payload, protectedHeader } = await jwtVerify(bodies[0] ?? '', createLocalJWKSet(await ring.jwks()), { issuer: ISSUER, audience: 'https://rp.example.com', currentDate: new Date(NOW_MS), typ: 'secevent+jwt' });
    expect(protectedHeader.kid).toBe((await ring.current()).kid);
    expect(payload).toMatchObject({ iat: NOW_MS / 1000, sub_id: { format: 'opaque', id: 'alice' } });
    await ssf.removeReceiver('acme', 'rp');
  });

  it('gives up after the last attempt, and does not retry a receiver that refuses (4xx)', async () => {
    const reports: DeliveryReport[] = [];
    const waits: number[] = [];
    const ssf = transmitter(reports, waits);
    await ssf.putReceiver('acme', 'rp', { endpoint, audience: 'rp' });
    script = [503, 503, 503];
    ssf.emitRevocation('acme', { client: 'mobile' });
    await ssf.idle();
    script = [400];
    ssf.emitRevocation('acme', { client: 'mobile' });
    await ssf.idle();
    expect(reports).toEqual([
      { tenant: 'acme', receiver: 'rp', outcome: 'failed', attempts: 3, status: 503 },
      { tenant: 'acme', receiver: 'rp', outcome: 'refused', attempts: 1, status: 400 },
    ]);
    expect(waits).toEqual([100, 200]);
    await ssf.removeReceiver('acme', 'rp');
  });

  it('refuses plain-http and loopback endpoints unless insecure endpoints are allowed', async () => {
    const ssf = transmitter([], [], { allowInsecure: false });
    for (const body of [{ endpoint, audience: 'rp' }, { endpoint: 'https://127.0.0.1/x', audience: 'rp' }, { endpoint: 'https://localhost/x', audience: 'rp' }, { endpoint: 'http://rp.example.com/x', audience: 'rp' }]) {
      await expect(ssf.putReceiver('acme', 'rp', body), body.endpoint).rejects.toMatchObject({ code: 'ERR_SSF_RECEIVER_INVALID' });
    }
    await expect(ssf.putReceiver('acme', 'rp', { endpoint: 'https://rp.example.com/x', audience: 'rp' })).resolves.toMatchObject({ created: true });
    await expect(ssf.putReceiver('nope', 'rp', { endpoint: 'https://rp.example.com/x', audience: 'rp' })).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });
  });
});
