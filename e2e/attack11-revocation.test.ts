/**
 * attack11: user-token revocation (admin API, RFC 7009, SSF SETs) through one worker of
 * `verity serve --workers 2`, then the token used on every worker; SET replay across workers;
 * revocation while another worker is busy verifying the same token.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInlineIdp, type InlineIdp } from './helpers/inline-idp.js';
import { fresh, startCluster, type Started } from './helpers/attack11.js';

let c: Started;
let idp: InlineIdp;
const T = 'rv';
const ISSUER = 'https://idp.rv.example';
let setKey: CryptoKey;

beforeAll(async () => {
  c = await startCluster();
  expect((await fresh(c.url, 'POST', '/admin/v1/tenants', { body: { id: T } })).status).toBe(201);
  expect((await fresh(c.url, 'POST', `/admin/v1/tenants/${T}/policies`, { body: { files: { 'p.cedar': 'permit(principal, action, resource);' } } })).status).toBe(201);
  idp = await createInlineIdp({ issuer: ISSUER, audience: 'api' });
  const src = await fresh(c.url, 'PUT', `/admin/v1/tenants/${T}/identity-sources/idp`, { body: idp.source() });
  expect(src.status, src.text).toBe(200);
  const kp = await generateKeyPair('ES256');
  setKey = kp.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(kp.publicKey)), kid: 's1', alg: 'ES256' };
  const tx = await fresh(c.url, 'PUT', `/admin/v1/tenants/${T}/ssf/transmitters/tx`, { body: { issuer: 'https://tx.example', jwks: { keys: [jwk] } } });
  expect(tx.status, tx.text).toBe(201);
});

afterAll(async () => {
  await c?.close();
});

const decide = (token: string) => fresh(c.url, 'POST', `/tenants/${T}/access/v1/evaluation`, { token: null, body: { token, action: { name: 'read' }, resource: { type: 'doc', id: 'd1' } } });

async function allFresh(token: string, n = 6): Promise<Array<[number, string | undefined]>> {
  const out: Array<[number, string | undefined]> = [];
  for (let i = 0; i < n; i++) {
    const a = await decide(token);
    out.push([a.status, a.status === 200 ? String(a.body.decision) : a.body?.code]);
  }
  return out;
}

function set(events: Record<string, unknown>, jti = randomUUID(), iat = Math.floor(Date.now() / 1000)) {
  return new SignJWT({ jti, events, aud: `${c.url}/ssf/v1/tenants/${T}` })
    .setProtectedHeader({ alg: 'ES256', kid: 's1', typ: 'secevent+jwt' })
    .setIssuer('https://tx.example')
    .setIssuedAt(iat)
    .sign(setKey);
}
const pushSet = (jwt: string) => fresh(c.url, 'POST', `/ssf/v1/tenants/${T}/events`, { token: null, raw: jwt, headers: { 'content-type': 'application/secevent+jwt' } });

describe('revocation across workers', () => {
  it('a {jti, exp} revocation through one worker is refused on every worker', async () => {
    const jti = randomUUID();
    const token = await idp.token({ sub: 'bob', jti });
    // warm the verified-token caches of every worker
    expect((await allFresh(token)).every(([s]) => s === 200)).toBe(true);
    const r = await fresh(c.url, 'POST', `/admin/v1/tenants/${T}/revocations`, { body: { jti, exp: Math.floor(Date.now() / 1000) + 300 } });
    expect(r.status, r.text).toBe(201);
    expect(await allFresh(token)).toEqual(Array(6).fill([401, 'ERR_TOKEN_REVOKED']));
  });

  it('a subject revocation while every worker verifies the token concurrently: no allow after it returns', async () => {
    for (let round = 0; round < 2; round++) {
      const sub = `carol${round}`;
      const token = await idp.token({ sub, jti: randomUUID() });
      let stop = false;
      let revokedAt = Infinity;
      const late: Array<[number, number]> = [];
      const loops = Array.from({ length: 6 }, async () => {
        while (!stop) {
          const sent = Date.now();
          const a = await decide(token);
          if (a.status === 200 && sent > revokedAt) late.push([sent - revokedAt, a.status]);
        }
      });
      await new Promise((r) => setTimeout(r, 300));
      const r = await fresh(c.url, 'POST', `/admin/v1/tenants/${T}/revocations`, { body: { subject: sub } });
      expect(r.status).toBe(201);
      revokedAt = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      stop = true;
      await Promise.all(loops);
      expect(late, `round ${round}`).toEqual([]);
      expect(await allFresh(token, 4)).toEqual(Array(4).fill([401, 'ERR_TOKEN_REVOKED']));
    }
  });

  it('a SET is accepted once across workers (sequential and concurrent)', async () => {
    const jwt = await set({ 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { subject: { format: 'opaque', id: 'dave' }, event_timestamp: Math.floor(Date.now() / 1000) } });
    const seq: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 4; i++) {
      const a = await pushSet(jwt);
      seq.push([a.status, a.body?.code]);
    }
    expect(seq.filter(([s]) => s === 202).length, JSON.stringify(seq)).toBe(1);
    const jwt2 = await set({ 'https://example.com/unknown-type': { subject: { format: 'opaque', id: 'dave' } } });
    const answers = await Promise.all(Array.from({ length: 8 }, () => pushSet(jwt2)));
    expect(answers.filter((a) => a.status === 202).length, JSON.stringify(answers.map((a) => [a.status, a.body?.code]))).toBe(1);
  });

  it('a session-revoked SET through one worker is refused on every worker', async () => {
    const token = await idp.token({ sub: 'erin', jti: randomUUID() });
    expect((await allFresh(token)).every(([s]) => s === 200)).toBe(true);
    await new Promise((r) => setTimeout(r, 1100));
    const a = await pushSet(await set({ 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { subject: { format: 'opaque', id: 'erin' }, event_timestamp: Math.floor(Date.now() / 1000) } }));
    expect(a.status, a.text).toBe(202);
    expect(await allFresh(token)).toEqual(Array(6).fill([401, 'ERR_TOKEN_REVOKED']));
  });
});

describe('token service across workers', () => {
  it('an exchanged token revoked by RFC 7009 through one worker cannot be exchanged onwards on any worker', async () => {
    const orders = await fresh(c.url, 'PUT', `/admin/v1/tenants/${T}/clients/orders`, { body: { principal: { type: 'Client', id: 'orders' }, audiences: ['inventory'], subjectAudiences: ['api'], scopes: ['s'], secret: true } });
    const inventory = await fresh(c.url, 'PUT', `/admin/v1/tenants/${T}/clients/inventory`, { body: { principal: { type: 'Client', id: 'inventory' }, audiences: ['db'], scopes: ['s'], secret: true } });
    expect([orders.status, inventory.status]).toEqual([200, 200]);
    const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
    const exchange = (auth: Record<string, string>, subject: string, audience: string) =>
      fresh(c.url, 'POST', `/tenants/${T}/oauth2/token`, { token: null, headers: auth, form: { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience, scope: 's' } });
    const user = await idp.token({ sub: 'frank', jti: randomUUID(), scope: 's' });
    const first = await exchange(basic('orders', orders.body.clientSecret), user, 'inventory');
    expect(first.status, first.text).toBe(200);
    const onward: number[] = [];
    for (let i = 0; i < 4; i++) onward.push((await exchange(basic('inventory', inventory.body.clientSecret), first.body.access_token, 'db')).status);
    expect(onward).toEqual([200, 200, 200, 200]);
    const revoked = await fresh(c.url, 'POST', `/tenants/${T}/oauth2/revoke`, { token: null, headers: basic('orders', orders.body.clientSecret), form: { token: first.body.access_token } });
    expect(revoked.status, revoked.text).toBe(200);
    const after: Array<[number, string | undefined]> = [];
    for (let i = 0; i < 6; i++) {
      const a = await exchange(basic('inventory', inventory.body.clientSecret), first.body.access_token, 'db');
      after.push([a.status, a.body?.code]);
    }
    expect(after.every(([s]) => s === 400), JSON.stringify(after)).toBe(true);
  });
});
