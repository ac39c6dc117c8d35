/** Conformance cases for the credentials repository and for migrations. */
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/migrations.js';
import { createStore } from '../../src/store.js';
import { ISO_TIME, createTenants, expectVerityError, useFreshStore, versionInput } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

/** Register the credentials and migrations cases. */
export function describeCredentialsAndMigrations(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('credentials', () => {
    it('creates, finds by token hash, counts, lists and revokes', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      expect(await store.credentials.count()).toBe(0);
      const admin = await store.credentials.create({ id: 'cred-1', tokenHash: HASH_A, role: 'platform-admin', tenant: null, label: 'bootstrap' });
      expect(admin).toEqual({ id: 'cred-1', tokenHash: HASH_A, role: 'platform-admin', tenant: null, label: 'bootstrap', createdAt: admin.createdAt, revokedAt: null });
      expect(admin.createdAt).toMatch(ISO_TIME);
      const pep = await store.credentials.create({ id: 'cred-2', tokenHash: HASH_B, role: 'pep', tenant: 'acme', label: 'gateway' });
      expect(await store.credentials.findByTokenHash(HASH_B)).toEqual(pep);
      expect(await store.credentials.findByTokenHash('c'.repeat(64))).toBeNull();
      expect(await store.credentials.count()).toBe(2);
      expect((await store.credentials.list()).map((credential) => credential.id)).toEqual(['cred-1', 'cred-2']);

      expect(await store.credentials.revoke('cred-2')).toBe(true);
      expect(await store.credentials.revoke('cred-2')).toBe(false);
      expect(await store.credentials.revoke('missing')).toBe(false);
      const revoked = await store.credentials.findByTokenHash(HASH_B);
      expect(revoked?.revokedAt).toMatch(ISO_TIME);
      expect((await store.credentials.findByTokenHash(HASH_A))?.revokedAt).toBeNull();
    });

    it('stores every role, pep-local included, and no other', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const local = await store.credentials.create({ id: 'cred-1', tokenHash: HASH_A, role: 'pep-local', tenant: 'acme', label: 'local pep' });
      expect((await store.credentials.findByTokenHash(HASH_A))?.role).toBe(local.role);
      await expect(store.credentials.create({ id: 'cred-2', tokenHash: HASH_B, role: 'root' as never, tenant: null, label: 'x' })).rejects.toThrow();
    });

    it('gets by id, lists one tenant, rotates a token hash and counts active platform admins', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.credentials.create({ id: 'admin', tokenHash: HASH_A, role: 'platform-admin', tenant: null, label: '' });
      await store.credentials.create({ id: 'pep-acme', tokenHash: HASH_B, role: 'pep', tenant: 'acme', label: '' });
      await store.credentials.create({ id: 'pep-globex', tokenHash: 'c'.repeat(64), role: 'pep', tenant: 'globex', label: '' });
      expect((await store.credentials.get('pep-acme'))?.tokenHash).toBe(HASH_B);
      expect(await store.credentials.get('missing')).toBeNull();
      expect((await store.credentials.list({ tenant: 'acme' })).map((c) => c.id)).toEqual(['pep-acme']);
      expect((await store.credentials.list({ tenant: null })).map((c) => c.id)).toEqual(['admin']);
      expect(await store.credentials.countActiveAdmins()).toBe(1);

      const rotated = await store.credentials.rotate('pep-acme', 'd'.repeat(64));
      expect(rotated?.tokenHash).toBe('d'.repeat(64));
      expect(await store.credentials.findByTokenHash(HASH_B)).toBeNull();
      expect(await store.credentials.rotate('missing', 'e'.repeat(64))).toBeNull();
      // A revoked credential stays revoked unless the caller revives it (the bootstrap credential).
      await store.credentials.revoke('pep-acme');
      expect(await store.credentials.rotate('pep-acme', 'e'.repeat(64))).toBeNull();
      const revived = await store.credentials.rotate('pep-acme', 'e'.repeat(64), { revive: true });
      expect(revived).toMatchObject({ tokenHash: 'e'.repeat(64), revokedAt: null });
      await store.credentials.revoke('admin');
      expect(await store.credentials.countActiveAdmins()).toBe(0);
    });

    it('rejects a reused token hash or id, and an unknown tenant', async () => {
      const { store } = handle;
      await store.credentials.create({ id: 'cred-1', tokenHash: HASH_A, role: 'pep', tenant: null, label: 'one' });
      await expectVerityError(store.credentials.create({ id: 'cred-2', tokenHash: HASH_A, role: 'pep', tenant: null, label: 'two' }), 'ERR_REQUEST_INVALID');
      await expectVerityError(store.credentials.create({ id: 'cred-1', tokenHash: HASH_B, role: 'pep', tenant: null, label: 'two' }), 'ERR_REQUEST_INVALID');
      await expectVerityError(store.credentials.create({ id: 'cred-3', tokenHash: HASH_B, role: 'pep', tenant: 'nobody', label: 'x' }), 'ERR_TENANT_NOT_FOUND');
      expect(await store.credentials.count()).toBe(1);
    });
  });

  describe('migrations', () => {
    it('are idempotent: a second createStore on the same database keeps the data', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.policies.createVersion('a', versionInput('v1'));
      const again = await createStore(store.db);
      expect((await again.tenants.get('a'))?.activeVersion).toBe(1);
      const { rows } = await store.db.query<{ version: unknown }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((row) => Number(row.version))).toEqual(MIGRATIONS.map((migration) => migration.version));
    });

    it('are safe when two processes migrate the same fresh database at once', async () => {
      const db = await databases.fresh();
      try {
        const [first, second] = await Promise.all([createStore(db), createStore(db)]);
        await first.tenants.create({ id: 'x', name: 'X', settings: {} });
        expect((await second.tenants.get('x'))?.name).toBe('X');
        const { rows } = await db.query<{ count: unknown }>('SELECT COUNT(*) AS count FROM schema_migrations');
        expect(Number(rows[0]?.count)).toBe(MIGRATIONS.length);
      } finally {
        await db.close();
      }
    });
  });
}
