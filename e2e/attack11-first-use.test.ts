/**
 * attack11: keys "created at first use" (token-service key ring, workload CA, bundle key) when
 * the first uses land concurrently on different workers of `verity serve --workers 2`: every
 * token / SVID / bundle any worker issued must verify against what every worker publishes.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateSvidKey, parseSpiffeBundleJson, verifyX509Svid } from '@verity/workload';
import { verifyBundle } from '@verity/identity';
import { fresh, startCluster, type Started } from './helpers/attack11.js';

let c: Started;

beforeAll(async () => {
  c = await startCluster();
});

afterAll(async () => {
  await c?.close();
});

async function tenant(id: string, settings: Record<string, unknown> = {}) {
  const t = await fresh(c.url, 'POST', '/admin/v1/tenants', { body: { id, settings } });
  expect(t.status, t.text).toBe(201);
}

describe('first use on two workers at once', () => {
  it('token service: concurrent first client_credentials tokens all verify against every worker\'s JWKS', async () => {
    for (let round = 0; round < 2; round++) {
      const t = `tok${round}`;
      await tenant(t);
      const client = await fresh(c.url, 'PUT', `/admin/v1/tenants/${t}/clients/svc`, { body: { principal: { type: 'Client', id: 'svc' }, audiences: ['inventory'], scopes: ['s'], secret: true } });
      expect(client.status, client.text).toBe(200);
      const basic = Buffer.from(`svc:${client.body.clientSecret}`).toString('base64');
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => fresh(c.url, 'POST', `/tenants/${t}/oauth2/token`, { token: null, headers: { authorization: `Basic ${basic}` }, form: { grant_type: 'client_credentials', audience: 'inventory', scope: 's' } })),
      );
      for (const a of answers) expect(a.status, a.text).toBe(200);
      for (let i = 0; i < 4; i++) {
        const jwks = await fresh(c.url, 'GET', `/tenants/${t}/.well-known/jwks.json`, { token: null });
        const set = createLocalJWKSet(jwks.body);
        for (const a of answers) {
          await expect(jwtVerify(a.body.access_token, set), `round ${round} jwks ${JSON.stringify(jwks.body.keys.map((k: any) => k.kid))}`).resolves.toBeTruthy();
        }
      }
    }
  });

  it('workload CA: concurrent first attests all verify against every worker\'s bundle', async () => {
    for (let round = 0; round < 2; round++) {
      const t = `wca${round}`;
      const td = `wca${round}.example`;
      await tenant(t, { trust_domain: td });
      const tokens: string[] = [];
      for (let i = 0; i < 6; i++) {
        const created = await fresh(c.url, 'POST', `/admin/v1/tenants/${t}/workloads`, { body: { spiffe_id: `spiffe://${td}/w${i}` } });
        expect(created.status, created.text).toBe(201);
        const minted = await fresh(c.url, 'POST', `/admin/v1/tenants/${t}/workloads/${created.body.id}/join-tokens`, { body: {} });
        tokens.push(minted.body.join_token);
      }
      const csrs = await Promise.all(tokens.map(async () => createCsr((await generateSvidKey()).privateKeyPem)));
      const answers = await Promise.all(tokens.map((jt, i) => fresh(c.url, 'POST', `/workload/v1/tenants/${t}/attest`, { token: null, body: { attestor: 'join_token', join_token: jt, csr: csrs[i] } })));
      for (const a of answers) expect(a.status, a.text).toBe(200);
      for (let i = 0; i < 4; i++) {
        const b = await fresh(c.url, 'GET', `/workload/v1/tenants/${t}/bundle`, { token: null });
        const bundle = parseSpiffeBundleJson(td, b.body);
        for (const a of answers) expect(() => verifyX509Svid(a.body.x509_svid, bundle), `round ${round}`).not.toThrow();
      }
    }
  });

  it('bundle key: concurrent first bundles all verify with the keys every worker publishes', async () => {
    for (let round = 0; round < 2; round++) {
      const t = `bk${round}`;
      await tenant(t);
      const pushed = await fresh(c.url, 'POST', `/admin/v1/tenants/${t}/policies`, { body: { files: { 'p.cedar': 'permit(principal, action, resource);' } } });
      expect(pushed.status, pushed.text).toBe(201);
      const answers = await Promise.all(Array.from({ length: 8 }, () => fresh(c.url, 'GET', `/tenants/${t}/bundle`)));
      for (const a of answers) expect(a.status, a.text).toBe(200);
      for (let i = 0; i < 4; i++) {
        const keys = await fresh(c.url, 'GET', `/tenants/${t}/bundle/keys`);
        expect(keys.status).toBe(200);
        for (const a of answers) await expect(verifyBundle(a.body.bundle, { issuer: `${c.url}/tenants/${t}`, tenant: t, keys: keys.body, thumbprints: keys.body.thumbprints }), `round ${round}`).resolves.toBeTruthy();
      }
    }
  });
});
