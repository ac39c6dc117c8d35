/** Conformance cases for a tenant's lifecycle past creation: versioned settings, and the removal of a deleted tenant's audit. */
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '@verity/core';
import { MIGRATIONS, runMigrations } from '../../src/migrations.js';
import { ISO_TIME, createTenants, decision, expectVerityError, type StoreHandle } from './fixtures.js';

/** Register the cases, on the store of the enclosing group. */
export function describeTenantLifecycle(handle: StoreHandle): void {
  describe('tenant settings versions', () => {
    it('numbers settings: creation is version 1, each change the next, with who, when and why', async () => {
      const { store } = handle;
      const created = await store.tenants.create({ id: 'acme', name: 'Acme', settings: { actionType: 'A::Action' }, createdBy: 'ops', message: 'onboarding' });
      expect(created.settingsVersion).toBe(1);
      const second = await store.tenants.updateSettings('acme', { set: { validateRequests: true }, remove: ['actionType'] }, { createdBy: 'alice', message: 'validate' });
      expect(second).toMatchObject({ settingsVersion: 2, settings: { validateRequests: true } });
      const third = await store.tenants.updateSettings('acme', { set: { gatewayRoutes: ['/a'] }, remove: [] });
      expect(third?.settingsVersion).toBe(3);
      expect(await store.tenants.get('acme')).toEqual(third);

      const versions = await store.tenants.listSettingsVersions('acme');
      expect(versions.map(({ version, createdBy, message, restoredFrom, current }) => ({ version, createdBy, message, restoredFrom, current }))).toEqual([
        { version: 1, createdBy: 'ops', message: 'onboarding', restoredFrom: null, current: false },
        { version: 2, createdBy: 'alice', message: 'validate', restoredFrom: null, current: false },
        { version: 3, createdBy: 'verity', message: '', restoredFrom: null, current: true },
      ]);
      expect(versions[0]?.createdAt).toMatch(ISO_TIME);
      expect(versions[0]).not.toHaveProperty('settings');
      expect((await store.tenants.getSettingsVersion('acme', 1))?.settings).toEqual({ actionType: 'A::Action' });
      expect(await store.tenants.getSettingsVersion('acme', 2)).toMatchObject({ tenant: 'acme', version: 2, settings: { validateRequests: true }, current: false });
      expect(await store.tenants.getSettingsVersion('acme', 4)).toBeNull();
      expect(await store.tenants.getSettingsVersion('acme', 1.5)).toBeNull();
      expect(await store.tenants.getSettingsVersion('other', 1)).toBeNull();
      expect(await store.tenants.listSettingsVersions('other')).toEqual([]);
    });

    it('rolls back by writing the old settings whole as the next version, which names what it restored', async () => {
      const { store } = handle;
      await store.tenants.create({ id: 'acme', name: 'Acme', settings: { actionType: 'A::Action', typeMapping: { user: 'User' } } });
      await store.tenants.updateSettings('acme', { set: { validateRequests: true, typeMapping: { user: 'App::User' } }, remove: ['actionType'] });
      const restored = await store.tenants.updateSettings('acme', { replace: { actionType: 'A::Action', typeMapping: { user: 'User' } }, restoredFrom: 1 }, { createdBy: 'bob', message: 'undo' });
      expect(restored).toMatchObject({ settingsVersion: 3, settings: { actionType: 'A::Action', typeMapping: { user: 'User' } } });
      expect(restored?.settings).not.toHaveProperty('validateRequests');
      expect(await store.tenants.getSettingsVersion('acme', 3)).toMatchObject({ restoredFrom: 1, createdBy: 'bob', message: 'undo', current: true, settings: restored?.settings });
      // Versions 1 and 2 are as they were.
      expect((await store.tenants.getSettingsVersion('acme', 2))?.settings).toEqual({ validateRequests: true, typeMapping: { user: 'App::User' } });
    });

    it('gives concurrent changes distinct versions, none lost; a change from a stale version (ifVersion) alters nothing', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      const keys = ['actionType', 'stsPrincipalType', 'gatewayAudience', 'validateRequests'] as const;
      const results = await Promise.all(keys.map((key) => store.tenants.updateSettings('acme', { set: { [key]: key === 'validateRequests' ? true : `X::${key}` }, remove: [] }, { message: key })));
      expect(results.map((tenant) => tenant?.settingsVersion).sort()).toEqual([2, 3, 4, 5]);
      const versions = await store.tenants.listSettingsVersions('acme');
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
      // Each version holds its own change over the one before: the last holds all four.
      const last = await store.tenants.getSettingsVersion('acme', 5);
      expect(Object.keys(last?.settings ?? {}).sort()).toEqual([...keys].sort());
      for (const version of versions.slice(1)) {
        const stored = await store.tenants.getSettingsVersion('acme', version.version);
        expect(Object.keys(stored?.settings ?? {})).toHaveLength(version.version - 1);
        expect(stored?.settings).toHaveProperty(version.message);
      }

      // Two writers that both read version 5: one lands, the other is refused and changes nothing.
      const racing = await Promise.allSettled([
        store.tenants.updateSettings('acme', { set: { actionType: 'First::Action' }, remove: [] }, { ifVersion: 5 }),
        store.tenants.updateSettings('acme', { set: { actionType: 'Second::Action' }, remove: [] }, { ifVersion: 5 }),
      ]);
      expect(racing.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(racing.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'ERR_TENANT_SETTINGS_CONFLICT' } });
      const now = await store.tenants.get('acme');
      expect(now?.settingsVersion).toBe(6);
      expect((await store.tenants.listSettingsVersions('acme')).at(-1)?.version).toBe(6);
      await expectVerityError(store.tenants.updateSettings('acme', { replace: {}, restoredFrom: 1 }, { ifVersion: 5 }), 'ERR_TENANT_SETTINGS_CONFLICT');
      expect(await store.tenants.get('acme')).toEqual(now);
      expect(await store.tenants.updateSettings('missing', { set: {}, remove: [] }, { ifVersion: 1 })).toBeNull();
    });

    it('refuses unstorable text whole: no version is written', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await expectVerityError(store.tenants.updateSettings('acme', { set: { stsPrincipalType: 'a\u0000' }, remove: [] }), 'ERR_TENANT_INVALID');
      await expectVerityError(store.tenants.updateSettings('acme', { set: {}, remove: [] }, { createdBy: 'x\u0000' }), 'ERR_TENANT_INVALID');
      expect((await store.tenants.listSettingsVersions('acme')).map((v) => v.version)).toEqual([1]);
      expect((await store.tenants.get('acme'))?.settingsVersion).toBe(1);
    });

    it('migration 21 makes the settings of every live tenant its version 1', async () => {
      const { db } = handle.store;
      await db.query('DROP SCHEMA public CASCADE');
      await db.query('CREATE SCHEMA public');
      await runMigrations(db, MIGRATIONS.filter((migration) => migration.version < 21));
      await db.query(`INSERT INTO tenants (id, name, settings) VALUES ('old', 'Old', '{"validateRequests": true}'::jsonb), ('gone', 'Gone', '{}'::jsonb)`);
      await db.query(`UPDATE tenants SET deleted_at = now() WHERE id = 'gone'`);
      expect(await runMigrations(db)).toEqual(MIGRATIONS.filter((migration) => migration.version >= 21).map((migration) => migration.version));
      const { rows } = await db.query<{ tenant_id: string; version: unknown; settings: unknown; created_by: string }>('SELECT tenant_id, version, settings, created_by FROM tenant_settings_versions ORDER BY tenant_id');
      expect(rows.map((row) => ({ ...row, version: Number(row.version) }))).toEqual([{ tenant_id: 'old', version: 1, settings: { validateRequests: true }, created_by: 'verity' }]);
      const { rows: tenants } = await db.query<{ settings_version: unknown }>(`SELECT settings_version FROM tenants WHERE id = 'old'`);
      expect(Number(tenants[0]?.settings_version)).toBe(1);
    });
  });

  describe("a deleted tenant's audit", () => {
    it('is removed only at the head the export reached, with its checkpoints; the tombstone stays; later records start a new chain', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      await store.audit.append([decision('acme'), decision('acme'), decision('globex')], { skipExisting: false });
      await expectVerityError(store.tenants.removeAudit('acme', await store.audit.head('acme')), 'ERR_AUDIT_TENANT_LIVE');
      await expectVerityError(store.tenants.removeAudit('nobody', { seq: 0, hash: GENESIS_HASH }), 'ERR_TENANT_NOT_FOUND');
      const exported = await store.audit.head('acme');
      await store.audit.saveCheckpoint({ tenant: 'acme', seq: exported.seq, hash: exported.hash, time: '2025-01-01T00:00:00.000Z', jws: 'a.b.c' });
      expect(await store.tenants.delete('acme')).toBe(true);

      // A decision answered just before the deletion lands after the export: the export is short.
      await store.audit.append([decision('acme')], { skipExisting: false });
      await expectVerityError(store.tenants.removeAudit('acme', exported), 'ERR_AUDIT_NOT_EXPORTED');
      await expectVerityError(store.tenants.removeAudit('acme', { seq: 3, hash: exported.hash }), 'ERR_AUDIT_NOT_EXPORTED');
      expect(await store.audit.query('acme', { limit: 10 })).toHaveLength(3);

      const head = await store.audit.head('acme');
      expect(head.seq).toBe(3);
      expect(await store.tenants.removeAudit('acme', head)).toEqual({ removed: 3 });
      expect(await store.audit.query('acme', { limit: 10 })).toEqual([]);
      expect(await store.audit.head('acme')).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await store.audit.latestCheckpoint('acme')).toBeNull();
      // The tombstone stays: the id is not reused. Another tenant's audit is untouched.
      expect((await store.tenants.get('acme', { includeDeleted: true }))?.deletedAt).toMatch(ISO_TIME);
      await expectVerityError(store.tenants.create({ id: 'acme', name: 'Again', settings: {} }), 'ERR_TENANT_EXISTS');
      expect(await store.audit.query('globex', { limit: 10 })).toHaveLength(1);
      // A record that comes even later is kept, in a chain of its own from the start.
      await store.audit.append([decision('acme')], { skipExisting: false });
      const late = await store.audit.query('acme', { limit: 10 });
      expect(late.map((event) => [event.seq, event.prevHash])).toEqual([[1, GENESIS_HASH]]);
      // Removing again takes the head as it now is; an empty audit is removed at the genesis head.
      expect(await store.tenants.removeAudit('acme', await store.audit.head('acme'))).toEqual({ removed: 1 });
      expect(await store.tenants.removeAudit('acme', { seq: 0, hash: GENESIS_HASH })).toEqual({ removed: 0 });
    });
  });
}
