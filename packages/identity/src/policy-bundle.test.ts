import { describe, expect, it } from 'vitest';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { bundleKeyThumbprints, BUNDLE_TTL_SEC, signBundle, verifyBundle, type PolicyBundle } from './policy-bundle.js';

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

  it('last ten minutes unless told otherwise', async () => {
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const { iat, exp } = decodeJwt(await signBundle(ring, { issuer, bundle }));
    expect(BUNDLE_TTL_SEC).toBe(600);
    expect((exp as number) - (iat as number)).toBe(600);
  });

  it('verify only with a pinned key when thumbprints are given, whatever key set travels with them', async () => {
    const ring = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const rogue = createSigningKeyRing({ store: createMemorySigningKeyStore() });
    const pinned = await bundleKeyThumbprints(await ring.jwks());
    expect(pinned).toEqual([(await ring.jwks()).keys[0]?.kid]);
    // Whoever controls the bundle channel signs with their own key and serves its JWKS alongside.
    const forged = await signBundle(rogue, { issuer, bundle: { ...bundle, version: 4 } });
    const served = { keys: [...(await ring.jwks()).keys, ...(await rogue.jwks()).keys] };
    await expect(verifyBundle(forged, { issuer, tenant: 'acme', keys: served, thumbprints: pinned })).rejects.toMatchObject({ code: 'ERR_TOKEN_UNKNOWN_KEY' });
    // A key whose `kid` claims a pinned thumbprint is still judged by its own thumbprint.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid = pinned[0] as string;
    const claimed = await new SignJWT({ bundle: JSON.stringify(bundle) })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'verity-bundle+jwt' })
      .setIssuer(issuer)
      .setAudience('verity:pep')
      .setSubject('acme')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const liar = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256' }] };
    await expect(verifyBundle(claimed, { issuer, tenant: 'acme', keys: liar })).resolves.toEqual(bundle);
    await expect(verifyBundle(claimed, { issuer, tenant: 'acme', keys: liar, thumbprints: pinned })).rejects.toMatchObject({ code: 'ERR_TOKEN_UNKNOWN_KEY' });
    expect(await verifyBundle(await signBundle(ring, { issuer, bundle }), { issuer, tenant: 'acme', keys: served, thumbprints: pinned })).toEqual(bundle);
  });
});
