/**
 * A private_key_jwt client assertion (RFC 7523) is good once across every replica and worker:
 * two servers on one database (as two workers of `verity serve --workers`, or two PostgreSQL
 * replicas, are), the assertion used on one is a replay on the other. Its id was remembered per
 * process before, so the second server took it (found by attack10).
 */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteWorkerDatabase, type Database } from '@verity/store';
import { startTestServer } from './helpers/verity.js';

const PUBLIC_URL = 'https://verity.example';
let db: Database;
let a: Awaited<ReturnType<typeof startTestServer>>;
let b: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  db = await createPgliteWorkerDatabase();
  const shared = { database: db, publicUrl: PUBLIC_URL, masterKey: randomBytes(32).toString('base64url') };
  a = await startTestServer(shared);
  b = await startTestServer(shared);
});

afterAll(async () => {
  await b?.close();
  await a?.close();
  await db?.close();
});

describe('private_key_jwt replay', () => {
  it('an assertion used on one server is refused on another server of the same database', async () => {
    expect((await a.admin.post('/admin/v1/tenants', { id: 'shop' })).status).toBe(201);
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'svc-key', alg: 'ES256' };
    expect((await a.admin.request('PUT', '/admin/v1/tenants/shop/clients/keyed', { principal: { type: 'Client', id: 'keyed' }, audiences: ['inventory'], scopes: ['todos:read'], jwks: [jwk] })).status).toBe(200);
    const assertion = () =>
      new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: 'svc-key' })
        .setIssuer('keyed')
        .setSubject('keyed')
        .setAudience(`${PUBLIC_URL}/tenants/shop/oauth2/token`)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(privateKey);
    const send = (url: string, signed: string) =>
      fetch(`${url}/tenants/shop/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'keyed', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signed, audience: 'inventory' }).toString(),
      });
    for (const [first, second] of [
      [a, b],
      [b, a],
    ] as const) {
      const signed = await assertion();
      expect((await send(first.url, signed)).status).toBe(200);
      const replay = await send(second.url, signed);
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { code: string }).code).toBe('ERR_STS_INVALID_CLIENT');
      // And on the first one too.
      expect((await send(first.url, signed)).status).toBe(401);
    }
  });
});
