/** Conformance cases for the workloads repository: authorities, registrations, join tokens, deny list, proof ids. */
import { describe, expect, it } from 'vitest';
import type { StoredCaAuthority, StoredJwtAuthority } from '../../src/types.js';
import { createTenants, expectVerityError, ISO_TIME, useFreshStore } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

function authorities(tenant: string, id: string, createdAtMs: number): { x509: StoredCaAuthority; jwt: StoredJwtAuthority } {
  return {
    x509: {
      tenant,
      id,
      state: 'active',
      trustDomain: `${tenant}.example`,
      rootPem: `root-${id}`,
      intermediatePem: `intermediate-${id}`,
      sealedKey: `sealed-${id}`,
      notAfterMs: createdAtMs + 1_000_000,
      createdAtMs,
      retireAfterMs: null,
      issuedUntilMs: 0,
    },
    jwt: { tenant, kid: `kid-${id}`, state: 'active', publicJwk: { kty: 'EC', kid: `kid-${id}` }, sealedKey: `sealed-jwt-${id}`, createdAtMs, retireAfterMs: null, issuedUntilMs: 0 },
  };
}

const registration = (tenant: string, id: string, spiffeId: string) => ({ tenant, id, spiffeId, selectors: ['unix:uid:1000', 'k8s:ns:pay'], attestor: 'join_token' as const, x509TtlSec: 3600, jwtTtlSec: 300 });

/** Register the workload cases. */
export function describeWorkloads(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('workload authorities', () => {
    it('installs the first authorities once, raising the sequence; a second writer finds them', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      expect(await store.workloads.authorities('acme')).toEqual({ sequence: 0, x509: [], jwt: [] });
      expect(await store.workloads.createAuthorities('acme', authorities('acme', 'a1', 1000))).toEqual({ installed: true, sequence: 1 });
      expect(await store.workloads.createAuthorities('acme', authorities('acme', 'a2', 1001))).toEqual({ installed: false, sequence: 1 });
      const loaded = await store.workloads.authorities('acme');
      expect(loaded.sequence).toBe(1);
      expect(loaded.x509).toEqual([authorities('acme', 'a1', 1000).x509]);
      expect(loaded.jwt).toEqual([authorities('acme', 'a1', 1000).jwt]);
      expect((await store.workloads.authorities('globex')).x509).toEqual([]);
      await expectVerityError(store.workloads.createAuthorities('nope', authorities('nope', 'n', 1)), 'ERR_TENANT_NOT_FOUND');
    });

    it('rotates: the old ones retire until the latest expiry they signed plus grace, lapsed ones go', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await store.workloads.createAuthorities('acme', authorities('acme', 'a1', 1000));
      await store.workloads.createRegistration(registration('acme', 'w1', 'spiffe://acme.example/api'), 1000);
      expect(await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { x509: 'a1' }, expiresAtMs: 50_000 })).toBe('recorded');
      expect(await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { jwt: 'kid-a1' }, expiresAtMs: 3_000 })).toBe('recorded');
      // A rotation of an authority that is no longer the active one changes nothing.
      expect(await store.workloads.rotateAuthorities('acme', authorities('acme', 'a2', 2000), { nowMs: 10_000, graceMs: 60, replacing: 'a0' })).toEqual({ rotated: false, sequence: 2 });
      expect(await store.workloads.rotateAuthorities('acme', authorities('acme', 'a2', 2000), { nowMs: 10_000, graceMs: 60, replacing: 'a1' })).toEqual({ rotated: true, sequence: 3 });
      const after = await store.workloads.authorities('acme');
      expect(after.x509.map((a) => [a.id, a.state, a.retireAfterMs, a.issuedUntilMs])).toEqual([
        ['a1', 'retiring', 50_060, 50_000],
        ['a2', 'active', null, 0],
      ]);
      // The JWT key signed nothing past now: it is trusted for the grace only.
      expect(after.jwt.map((a) => [a.kid, a.state, a.retireAfterMs])).toEqual([
        ['kid-a1', 'retiring', 10_060],
        ['kid-a2', 'active', null],
      ]);
      // Issuing under a retired authority is refused: a rotation won the race.
      expect(await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { x509: 'a1' }, expiresAtMs: 90_000 })).toBe('authority-changed');
      expect(await store.workloads.pruneAuthorities('acme', 20_000)).toBe(true);
      expect((await store.workloads.authorities('acme')).jwt.map((a) => a.kid)).toEqual(['kid-a2']);
      expect(await store.workloads.pruneAuthorities('acme', 20_000)).toBe(false);
      await store.workloads.rotateAuthorities('acme', authorities('acme', 'a3', 3000), { nowMs: 60_000, graceMs: 60 });
      const last = await store.workloads.authorities('acme');
      expect(last.x509.map((a) => [a.id, a.state])).toEqual([
        ['a2', 'retiring'],
        ['a3', 'active'],
      ]);
      expect(last.sequence).toBe(5);
      // Past the repository, the schema itself refuses a second active authority.
      await expect(store.db.query("UPDATE workload_ca_authorities SET state = 'active' WHERE id = 'a2'")).rejects.toThrow();
    });
  });

  describe('workload registrations', () => {
    it('registers, finds, lists and refuses a SPIFFE id twice in a tenant (not across tenants)', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      const created = await store.workloads.createRegistration(registration('acme', 'w1', 'spiffe://td/api'), 1000);
      expect(created).toEqual({ ...registration('acme', 'w1', 'spiffe://td/api'), createdAt: expect.stringMatching(ISO_TIME), issuedUntilMs: 0 });
      await store.workloads.createRegistration(registration('globex', 'w1', 'spiffe://td/api'), 1000);
      await expectVerityError(store.workloads.createRegistration(registration('acme', 'w2', 'spiffe://td/api'), 1000), 'ERR_WORKLOAD_EXISTS');
      await expectVerityError(store.workloads.createRegistration(registration('nope', 'w1', 'spiffe://td/api'), 1000), 'ERR_TENANT_NOT_FOUND');
      expect(await store.workloads.getRegistration('acme', 'w1')).toEqual(created);
      expect(await store.workloads.findRegistration('acme', 'spiffe://td/api')).toEqual(created);
      expect(await store.workloads.findRegistration('acme', 'spiffe://td/other')).toBeNull();
      expect((await store.workloads.listRegistrations('acme')).map((w) => w.id)).toEqual(['w1']);
      expect(await store.workloads.sequence('acme')).toBe(1);
    });

    it('removes a registration and denies its id until the latest SVID it was issued expires', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.workloads.createAuthorities('acme', authorities('acme', 'a1', 1000));
      await store.workloads.createRegistration(registration('acme', 'w1', 'spiffe://td/api'), 1000);
      await store.workloads.createRegistration(registration('acme', 'w2', 'spiffe://td/web'), 1000);
      await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { x509: 'a1' }, expiresAtMs: 9_000 });
      await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { x509: 'a1' }, expiresAtMs: 5_000 });
      await store.workloads.createJoinToken({ tenant: 'acme', registrationId: 'w1', tokenHash: 'h1', createdAtMs: 1000, expiresAtMs: 99_000 });

      expect(await store.workloads.removeRegistration('acme', 'w1', 2_000)).toEqual({ tenant: 'acme', spiffeId: 'spiffe://td/api', untilMs: 9_000 });
      expect(await store.workloads.removeRegistration('acme', 'w1', 2_000)).toBeNull();
      // Nothing was ever issued to w2: it is denied for no longer than now.
      expect(await store.workloads.removeRegistration('acme', 'w2', 3_000)).toEqual({ tenant: 'acme', spiffeId: 'spiffe://td/web', untilMs: 3_000 });
      expect(await store.workloads.listDenied('acme', 3_000)).toEqual([{ tenant: 'acme', spiffeId: 'spiffe://td/api', untilMs: 9_000 }]);
      expect(await store.workloads.listDenied(null, 3_000)).toHaveLength(1);
      expect(await store.workloads.listDenied('globex', 3_000)).toEqual([]);
      expect(await store.workloads.listDenied('acme', 9_000)).toEqual([]);
      // Its join tokens went with it; an SVID issued after the removal is refused.
      expect(await store.workloads.consumeJoinToken('acme', 'h1', 3_000)).toBeNull();
      expect(await store.workloads.recordIssued('acme', { registrationId: 'w1', authority: { x509: 'a1' }, expiresAtMs: 9_500 })).toBe('registration-gone');
      // The id cannot be registered again while denied, and can afterwards.
      await expectVerityError(store.workloads.createRegistration(registration('acme', 'w3', 'spiffe://td/api'), 8_999), 'ERR_WORKLOAD_EXISTS');
      expect((await store.workloads.createRegistration(registration('acme', 'w3', 'spiffe://td/api'), 9_000)).id).toBe('w3');
      await store.workloads.pruneExpired(9_000);
      expect(await store.db.query('SELECT * FROM workload_denied')).toMatchObject({ rows: [] });
    });
  });

  describe('join tokens and proof ids', () => {
    it('uses a join token once, before it expires, in its own tenant only', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.workloads.createRegistration(registration('acme', 'w1', 'spiffe://td/api'), 1000);
      await expectVerityError(store.workloads.createJoinToken({ tenant: 'acme', registrationId: 'nope', tokenHash: 'x', createdAtMs: 1, expiresAtMs: 2 }), 'ERR_WORKLOAD_NOT_FOUND');
      await expectVerityError(store.workloads.createJoinToken({ tenant: 'globex', registrationId: 'w1', tokenHash: 'x', createdAtMs: 1, expiresAtMs: 2 }), 'ERR_WORKLOAD_NOT_FOUND');
      await store.workloads.createJoinToken({ tenant: 'acme', registrationId: 'w1', tokenHash: 'h1', createdAtMs: 1000, expiresAtMs: 5_000 });
      await store.workloads.createJoinToken({ tenant: 'acme', registrationId: 'w1', tokenHash: 'h2', createdAtMs: 1000, expiresAtMs: 5_000 });
      expect(await store.workloads.consumeJoinToken('globex', 'h1', 2_000)).toBeNull();
      expect(await store.workloads.consumeJoinToken('acme', 'h1', 5_000)).toBeNull();
      const both = await Promise.all([store.workloads.consumeJoinToken('acme', 'h2', 2_000), store.workloads.consumeJoinToken('acme', 'h2', 2_000)]);
      expect(both.sort()).toEqual(['w1', null].sort());
      expect(await store.workloads.consumeJoinToken('acme', 'h1', 4_999)).toBe('w1');
      await store.workloads.pruneExpired(5_000);
      expect((await store.db.query('SELECT token_hash FROM workload_join_tokens')).rows).toEqual([]);
    });

    it('records a proof id once per tenant and forgets it after its expiry', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      expect(await store.workloads.useProofJti('acme', 'j1', 5_000)).toBe(true);
      expect(await store.workloads.useProofJti('acme', 'j1', 5_000)).toBe(false);
      expect(await store.workloads.useProofJti('globex', 'j1', 5_000)).toBe(true);
      await expectVerityError(store.workloads.useProofJti('nope', 'j1', 5_000), 'ERR_TENANT_NOT_FOUND');
      await store.workloads.pruneExpired(4_999);
      expect(await store.workloads.useProofJti('acme', 'j1', 5_000)).toBe(false);
      await store.workloads.pruneExpired(5_000);
      expect(await store.workloads.useProofJti('acme', 'j1', 9_000)).toBe(true);
    });
  });
}
