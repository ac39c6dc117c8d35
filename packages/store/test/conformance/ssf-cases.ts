/** Conformance cases for the Shared Signals repository: transmitters, receivers, used SET ids, assurance. */
import { describe, expect, it } from 'vitest';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

const JWKS = { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' }] };

/** Register the SSF cases. */
export function describeSsf(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('ssf', () => {
    it('creates, replaces, lists by id and removes transmitters, per tenant', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      const first = await store.ssf.putTransmitter({ tenant: 'acme', id: 'idp', issuer: 'https://idp.example', jwks: JWKS, jwksUri: null, audience: null, updatedAtMs: 1000 });
      expect(first).toEqual({ created: true, transmitter: { tenant: 'acme', id: 'idp', issuer: 'https://idp.example', jwks: JWKS, jwksUri: null, audience: null, updatedAtMs: 1000 } });
      const replaced = await store.ssf.putTransmitter({ tenant: 'acme', id: 'idp', issuer: 'https://idp2.example', jwks: { keys: [] }, jwksUri: null, audience: 'https://rp', updatedAtMs: 2000 });
      expect(replaced).toEqual({ created: false, transmitter: { tenant: 'acme', id: 'idp', issuer: 'https://idp2.example', jwks: { keys: [] }, jwksUri: null, audience: 'https://rp', updatedAtMs: 2000 } });
      const byUri = await store.ssf.putTransmitter({ tenant: 'acme', id: 'a-mdm', issuer: 'https://mdm', jwks: null, jwksUri: 'https://mdm/jwks.json', audience: null, updatedAtMs: 1000 });
      expect(byUri.transmitter).toMatchObject({ jwks: null, jwksUri: 'https://mdm/jwks.json' });
      // Exactly one of jwks and jwksUri.
      await expect(store.ssf.putTransmitter({ tenant: 'acme', id: 'both', issuer: 'https://both', jwks: JWKS, jwksUri: 'https://both/jwks', audience: null, updatedAtMs: 1 })).rejects.toThrow();
      await expect(store.ssf.putTransmitter({ tenant: 'acme', id: 'none', issuer: 'https://none', jwks: null, jwksUri: null, audience: null, updatedAtMs: 1 })).rejects.toThrow();
      await store.ssf.putTransmitter({ tenant: 'globex', id: 'idp', issuer: 'https://other', jwks: JWKS, jwksUri: null, audience: null, updatedAtMs: 1000 });
      expect((await store.ssf.listTransmitters('acme')).map((t) => [t.id, t.issuer])).toEqual([['a-mdm', 'https://mdm'], ['idp', 'https://idp2.example']]);
      expect(await store.ssf.removeTransmitter('acme', 'idp')).toBe(true);
      expect(await store.ssf.removeTransmitter('acme', 'idp')).toBe(false);
      expect((await store.ssf.listTransmitters('globex')).map((t) => t.issuer)).toEqual(['https://other']);
      await expectVerityError(store.ssf.putTransmitter({ tenant: 'nope', id: 'idp', issuer: 'https://x', jwks: JWKS, jwksUri: null, audience: null, updatedAtMs: 1 }), 'ERR_TENANT_NOT_FOUND');
    });

    it('creates, replaces, lists and removes receivers, per tenant', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      expect(await store.ssf.putReceiver({ tenant: 'acme', id: 'rp', endpoint: 'https://rp/events', audience: 'https://rp', updatedAtMs: 1000 })).toEqual({
        created: true,
        receiver: { tenant: 'acme', id: 'rp', endpoint: 'https://rp/events', audience: 'https://rp', updatedAtMs: 1000 },
      });
      expect((await store.ssf.putReceiver({ tenant: 'acme', id: 'rp', endpoint: 'https://rp/v2', audience: 'rp', updatedAtMs: 2000 })).created).toBe(false);
      expect(await store.ssf.listReceivers('acme')).toEqual([{ tenant: 'acme', id: 'rp', endpoint: 'https://rp/v2', audience: 'rp', updatedAtMs: 2000 }]);
      expect(await store.ssf.listReceivers('globex')).toEqual([]);
      expect(await store.ssf.removeReceiver('globex', 'rp')).toBe(false);
      expect(await store.ssf.removeReceiver('acme', 'rp')).toBe(true);
      expect(await store.ssf.listReceivers('acme')).toEqual([]);
      await expectVerityError(store.ssf.putReceiver({ tenant: 'nope', id: 'rp', endpoint: 'https://rp', audience: 'rp', updatedAtMs: 1 }), 'ERR_TENANT_NOT_FOUND');
    });

    it('takes a SET id once per tenant and issuer until it expires', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      const used = { issuer: 'https://idp', jti: 'set-1', expMs: 5000 };
      expect(await store.ssf.useJti('acme', used, 1000)).toBe(true);
      expect(await store.ssf.useJti('acme', used, 1001)).toBe(false);
      expect(await store.ssf.useJti('acme', { ...used, issuer: 'https://mdm' }, 1001)).toBe(true);
      expect(await store.ssf.useJti('globex', used, 1001)).toBe(true);
      // Past its expiry, the entry is taken over (the age check refuses such an old SET anyway).
      expect(await store.ssf.useJti('acme', { ...used, expMs: 9000 }, 5000)).toBe(true);
      expect(await store.ssf.useJti('acme', used, 6000)).toBe(false);
      await store.ssf.pruneJtis(9000);
      expect(await store.ssf.useJti('acme', used, 9000)).toBe(true);
      // A forgotten id (its effect failed) may be taken again; other issuers' ids stay.
      const mdm = { issuer: 'https://mdm', jti: 'set-1', expMs: 20_000 };
      expect(await store.ssf.useJti('acme', mdm, 9000)).toBe(true);
      await store.ssf.forgetJti('acme', 'https://idp', 'set-1');
      expect(await store.ssf.useJti('acme', used, 9000)).toBe(true);
      expect(await store.ssf.useJti('acme', mdm, 9001)).toBe(false);
      await expectVerityError(store.ssf.useJti('nope', used, 1000), 'ERR_TENANT_NOT_FOUND');
    });

    it('keeps the latest assurance level per subject, never an older one over a newer', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      expect(await store.ssf.setAssurance({ tenant: 'acme', subject: 'alice', acr: 'aal2', atMs: 2000 })).toBe(true);
      expect(await store.ssf.setAssurance({ tenant: 'acme', subject: 'alice', acr: 'aal3', atMs: 1000 })).toBe(false);
      expect(await store.ssf.setAssurance({ tenant: 'acme', subject: 'alice', acr: 'aal1', atMs: 3000 })).toBe(true);
      expect(await store.ssf.setAssurance({ tenant: 'acme', subject: 'bob', acr: 'aal2', atMs: 1000 })).toBe(true);
      expect(await store.ssf.listAssurance('acme')).toEqual([
        { tenant: 'acme', subject: 'alice', acr: 'aal1', atMs: 3000 },
        { tenant: 'acme', subject: 'bob', acr: 'aal2', atMs: 1000 },
      ]);
      expect(await store.ssf.listAssurance('globex')).toEqual([]);
      await store.ssf.setAssurance({ tenant: 'globex', subject: 'alice', acr: 'aal3', atMs: 500 });
      expect((await store.ssf.listAssurance(null)).map((a) => [a.tenant, a.subject, a.acr])).toEqual([['acme', 'alice', 'aal1'], ['acme', 'bob', 'aal2'], ['globex', 'alice', 'aal3']]);
      await expectVerityError(store.ssf.setAssurance({ tenant: 'nope', subject: 'a', acr: 'x', atMs: 1 }), 'ERR_TENANT_NOT_FOUND');
    });
  });
}
