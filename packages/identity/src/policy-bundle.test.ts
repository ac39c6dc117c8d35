import { describe, expect, it } from 'vitest';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { signBundle, verifyBundle, type PolicyBundle } from './policy-bundle.js';

const bundle: PolicyBundle = {
  tenant: 'acme',
  version: 3,
  hash: 'f'.repeat(64),
  content: { validationMode: 'off', policies: { p: 'permit(principal, action, resource);' }, templates: {}, links: [] },
  settings: {},
  entities: [{ uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [] }],
  identitySources: [],
  revocations: [{ kind: 'subject', tenant: 'acme', subject: 'bob', issuedBefore: 100 }],
};
const issuer = 'http://127.0.0.1/tenants/acme';

describe('policy bundles', () => {
  it('verify with the tenant JWKS and round-trip their content', async () => {
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const token = await signBundle(ring, { issuer, bundle });
    expect(await verifyBundle(token, { issuer, tenant: 'acme', keys: await ring.jwks() })).toEqual(bundle);
  });

  it('refuse another tenant, another issuer, another key, an expired bundle and any alteration', async () => {
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const token = await signBundle(ring, { issuer, bundle, ttlSec: 60 });
    const jwks = await ring.jwks();
    const refused = (promise: Promise<unknown>) => expect(promise).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_TOKEN_/) });
    await refused(verifyBundle(token, { issuer, tenant: 'globex', keys: jwks }));
    await refused(verifyBundle(token, { issuer: 'http://127.0.0.1/tenants/other', tenant: 'acme', keys: jwks }));
    await refused(verifyBundle(token, { issuer, tenant: 'acme', keys: await createSigningKeyRing({ store: createMemorySigningKeyStore() }).jwks() }));
    await refused(verifyBundle(token, { issuer, tenant: 'acme', keys: jwks, now: () => Date.now() + 120_000 }));
    const [header, payload, signature] = token.split('.');
    const altered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload as string, 'base64url').toString()), bundle: { ...bundle, version: 99 } })).toString('base64url');
    await refused(verifyBundle(`${header}.${altered}.${signature}`, { issuer, tenant: 'acme', keys: jwks }));
  });
});
