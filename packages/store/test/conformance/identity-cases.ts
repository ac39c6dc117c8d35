/** Conformance cases for the identity repository: sources, clients, signing keys, revocations. */
import { describe, expect, it } from 'vitest';
import { createTenants, expectVerityError, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

/** Register the identity cases. */
export function describeIdentity(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('identity sources and clients', () => {
    it('puts, replaces, lists and deletes per tenant, isolated between tenants', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.identity.putSource({ tenant: 'acme', id: 'okta', config: { issuer: 'https://a.example', audiences: ['api'] } });
      await store.identity.putSource({ tenant: 'acme', id: 'okta', config: { issuer: 'https://b.example', audiences: ['api'] } });
      await store.identity.putSource({ tenant: 'globex', id: 'okta', config: { issuer: 'https://g.example' } });
      expect(await store.identity.listSources('acme')).toEqual([{ tenant: 'acme', id: 'okta', config: { issuer: 'https://b.example', audiences: ['api'] } }]);
      expect(await store.identity.deleteSource('acme', 'okta')).toBe(true);
      expect(await store.identity.deleteSource('acme', 'okta')).toBe(false);
      expect(await store.identity.listSources('globex')).toHaveLength(1);
      await expectVerityError(store.identity.putSource({ tenant: 'nope', id: 'x', config: {} }), 'ERR_TENANT_NOT_FOUND');

      await store.identity.putClient({ tenant: 'acme', id: 'orders', config: { audiences: ['db'] }, secretHash: 'f'.repeat(64) });
      expect(await store.identity.getClient('acme', 'orders')).toEqual({ tenant: 'acme', id: 'orders', config: { audiences: ['db'] }, secretHash: 'f'.repeat(64) });
      expect(await store.identity.getClient('globex', 'orders')).toBeNull();
      expect(await store.identity.listClients('acme')).toHaveLength(1);
      expect(await store.identity.deleteClient('acme', 'orders')).toBe(true);
    });
  });

  describe('signing keys', () => {
    it('replaces the whole ring atomically and loads it in creation order', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await store.identity.saveSigningKeys('acme', [
        { kid: 'k2', sealedKey: 'sealed-2', createdAtMs: 2000, retireAfterMs: 9000 },
        { kid: 'k1', sealedKey: 'sealed-1', createdAtMs: 1000, retireAfterMs: 5000 },
      ]);
      expect((await store.identity.loadSigningKeys('acme')).map((k) => k.kid)).toEqual(['k1', 'k2']);
      await store.identity.saveSigningKeys('acme', [{ kid: 'k3', sealedKey: 'sealed-3', createdAtMs: 3000, retireAfterMs: 9999 }]);
      expect(await store.identity.loadSigningKeys('acme')).toEqual([{ kid: 'k3', sealedKey: 'sealed-3', createdAtMs: 3000, retireAfterMs: 9999 }]);
      await expectVerityError(store.identity.saveSigningKeys('nope', []), 'ERR_TENANT_NOT_FOUND');
    });

    it('replaces a key ring only if it still holds the kids it was read with, when asked', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const key = (kid: string) => ({ kid, sealedKey: `sealed-${kid}`, createdAtMs: 1000, retireAfterMs: 5000 });
      expect(await store.identity.saveSigningKeys('acme', [key('k1')], [])).toBe(true);
      // Another instance read the empty ring too: its save loses, nothing written.
      expect(await store.identity.saveSigningKeys('acme', [key('k2')], [])).toBe(false);
      expect((await store.identity.loadSigningKeys('acme')).map((k) => k.kid)).toEqual(['k1']);
      expect(await store.identity.saveSigningKeys('acme', [key('k2'), key('k1')], ['k1'])).toBe(true);
      expect(await store.identity.saveBundleKeys('acme', [key('b1')], ['nope'])).toBe(false);
      expect(await store.identity.loadBundleKeys('acme')).toEqual([]);
      expect(await store.identity.saveSigningKeys('acme', [key('k3')])).toBe(true);
      expect((await store.identity.loadSigningKeys('acme')).map((k) => k.kid)).toEqual(['k3']);
    });

    it('keeps the bundle keys apart from the token keys', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await store.identity.saveSigningKeys('acme', [{ kid: 't1', sealedKey: 'sealed-t1', createdAtMs: 1000, retireAfterMs: 5000 }]);
      await store.identity.saveBundleKeys('acme', [{ kid: 'b1', sealedKey: 'sealed-b1', createdAtMs: 1000, retireAfterMs: 5000 }]);
      await store.identity.saveSigningKeys('acme', [{ kid: 't2', sealedKey: 'sealed-t2', createdAtMs: 2000, retireAfterMs: 6000 }]);
      expect((await store.identity.loadBundleKeys('acme')).map((k) => k.kid)).toEqual(['b1']);
      expect((await store.identity.loadSigningKeys('acme')).map((k) => k.kid)).toEqual(['t2']);
      await expectVerityError(store.identity.saveBundleKeys('nope', []), 'ERR_TENANT_NOT_FOUND');
    });
  });

  describe('revocations', () => {
    it('keeps the latest cut-off per subject, lists all tenants and forgets expired token ids', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.identity.addRevocation({ tenant: 'acme', kind: 'subject', value: 'alice', atSec: 200 });
      await store.identity.addRevocation({ tenant: 'acme', kind: 'subject', value: 'alice', atSec: 100 });
      await store.identity.addRevocation({ tenant: 'acme', kind: 'token', value: 'jti-1', atSec: 50 });
      await store.identity.addRevocation({ tenant: 'globex', kind: 'token', value: 'jti-2', atSec: 500 });
      expect(await store.identity.listRevocations()).toEqual([
        { tenant: 'acme', kind: 'subject', value: 'alice', atSec: 200 },
        { tenant: 'acme', kind: 'token', value: 'jti-1', atSec: 50 },
        { tenant: 'globex', kind: 'token', value: 'jti-2', atSec: 500 },
      ]);
      expect(await store.identity.forgetExpiredRevocations(100)).toBe(1);
      expect((await store.identity.listRevocations()).map((r) => r.value)).toEqual(['alice', 'jti-2']);
      await expectVerityError(store.identity.addRevocation({ tenant: 'nope', kind: 'token', value: 'x', atSec: 1 }), 'ERR_TENANT_NOT_FOUND');
    });

    it('stores job cut-offs (migration 15), keeps the latest and never forgets them as expired tokens', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await store.identity.addRevocation({ tenant: 'acme', kind: 'job', value: 'nightly:2026-12-01', atSec: 300 });
      await store.identity.addRevocation({ tenant: 'acme', kind: 'job', value: 'nightly:2026-12-01', atSec: 200 });
      await store.identity.addRevocation({ tenant: 'acme', kind: 'client', value: 'nightly:2026-12-01', atSec: 100 });
      expect(await store.identity.forgetExpiredRevocations(1000)).toBe(0);
      expect(await store.identity.listRevocations()).toEqual([
        { tenant: 'acme', kind: 'client', value: 'nightly:2026-12-01', atSec: 100 },
        { tenant: 'acme', kind: 'job', value: 'nightly:2026-12-01', atSec: 300 },
      ]);
    });

    it('records a client assertion id once per tenant (migration 16), refuses it again, forgets it once expired', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'other');
      const key = 'a'.repeat(64);
      expect(await store.identity.useAssertionJti('acme', key, 200)).toBe(true);
      expect(await store.identity.useAssertionJti('acme', key, 200)).toBe(false);
      expect(await Promise.all([store.identity.useAssertionJti('acme', 'b'.repeat(64), 100), store.identity.useAssertionJti('acme', 'b'.repeat(64), 100)])).toEqual(expect.arrayContaining([true, false]));
      expect(await store.identity.useAssertionJti('other', key, 200)).toBe(true);
      await expectVerityError(store.identity.useAssertionJti('nobody', key, 200), 'ERR_TENANT_NOT_FOUND');
      expect(await store.identity.forgetExpiredAssertionJtis(150)).toBe(1);
      expect(await store.identity.useAssertionJti('acme', 'b'.repeat(64), 300)).toBe(true);
      expect(await store.identity.useAssertionJti('acme', key, 200)).toBe(false);
    });
  });
}
