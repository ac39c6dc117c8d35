/** Conformance cases for the tenants and policies repositories. */
import { describe, expect, it } from 'vitest';
import { ISO_TIME, createTenants, decision, expectVerityError, policyContent, useFreshStore, user, versionInput } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';
import { describeTenantLifecycle } from './tenant-lifecycle-cases.js';

/** Register the tenants and policies cases. */
export function describeTenantsAndPolicies(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('tenants', () => {
    it('creates, gets and lists tenants with their settings', async () => {
      const { store } = handle;
      const created = await store.tenants.create({ id: 'beta', name: 'Beta', settings: { typeMapping: { user: 'App::User' } } });
      await store.tenants.create({ id: 'alpha', name: 'Alpha', settings: {} });
      expect(created).toEqual({ id: 'beta', name: 'Beta', createdAt: created.createdAt, activeVersion: null, settings: { typeMapping: { user: 'App::User' } }, settingsVersion: 1 });
      expect(created.createdAt).toMatch(ISO_TIME);
      expect(await store.tenants.get('beta')).toEqual(created);
      expect(await store.tenants.get('missing')).toBeNull();
      expect((await store.tenants.list()).map((tenant) => tenant.id)).toEqual(['alpha', 'beta']);
    });

    it('updates settings: given keys replace whole, removed keys go, the rest stay', async () => {
      const { store } = handle;
      const created = await store.tenants.create({ id: 'acme', name: 'Acme', settings: { typeMapping: { user: 'User', doc: 'Doc' }, actionType: 'App::Action' } });
      const updated = await store.tenants.updateSettings('acme', { set: { typeMapping: { user: 'App::User' }, validateRequests: true }, remove: ['actionType', 'gatewayRoutes'] });
      expect(updated).toEqual({ ...created, settings: { typeMapping: { user: 'App::User' }, validateRequests: true }, settingsVersion: 2 });
      expect(await store.tenants.get('acme')).toEqual(updated);
      expect(await store.tenants.updateSettings('missing', { set: { validateRequests: true }, remove: [] })).toBeNull();
    });

    it('keeps concurrent settings updates of different keys, and refuses unstorable text whole', async () => {
      const { store } = handle;
      await createTenants(store, 'acme');
      await Promise.all([
        store.tenants.updateSettings('acme', { set: { actionType: 'A::Action' }, remove: [] }),
        store.tenants.updateSettings('acme', { set: { gatewayRoutes: ['/a'] }, remove: [] }),
        store.tenants.updateSettings('acme', { set: { validateRequests: false }, remove: [] }),
      ]);
      const settings = { actionType: 'A::Action', gatewayRoutes: ['/a'], validateRequests: false };
      expect((await store.tenants.get('acme'))?.settings).toEqual(settings);
      await expectVerityError(store.tenants.updateSettings('acme', { set: { actionType: 'B::Action', stsPrincipalType: 'a\u0000' }, remove: ['gatewayRoutes'] }), 'ERR_TENANT_INVALID');
      expect((await store.tenants.get('acme'))?.settings).toEqual(settings);
    });

    it('rejects a duplicate tenant id with ERR_TENANT_EXISTS', async () => {
      await createTenants(handle.store, 'acme');
      await expectVerityError(handle.store.tenants.create({ id: 'acme', name: 'Again', settings: {} }), 'ERR_TENANT_EXISTS');
      expect(await handle.store.tenants.list()).toHaveLength(1);
    });

    it('deletes a tenant: every row of every table that references it goes but its audit; the id stays taken; other tenants untouched', async () => {
      const { store } = handle;
      await createTenants(store, 'acme', 'globex');
      for (const tenant of ['acme', 'globex']) {
        await store.policies.createVersion(tenant, versionInput('v1'));
        await store.entities.upsert(tenant, [user('alice')]);
        await store.identity.putSource({ tenant, id: 'okta', config: { issuer: 'https://a.example' } });
        await store.credentials.create({ id: `pep-${tenant}`, tokenHash: `${tenant}-hash`.padEnd(64, '0'), role: 'pep', tenant, label: '' });
        await store.audit.append([decision(tenant), decision(tenant)], { skipExisting: false });
      }
      // Rows in every table that references tenants, per table, for one tenant.
      const { rows: tables } = await store.db.query<{ table_name: string; column_name: string }>(
        `SELECT c.conrelid::regclass::text AS table_name, quote_ident(a.attname) AS column_name FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.confrelid = 'tenants'::regclass AND c.conrelid <> 'tenants'::regclass`,
      );
      expect(tables.length).toBeGreaterThan(20);
      const rowsOf = async (tenant: string) => {
        const counts: Record<string, number> = {};
        for (const { table_name: table, column_name: column } of tables) {
          const { rows } = await store.db.query<{ n: unknown }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} = $1`, [tenant]);
          if (Number(rows[0]?.n) > 0) counts[table] = Number(rows[0]?.n);
        }
        return counts;
      };
      const globexBefore = await rowsOf('globex');
      expect(Object.keys(globexBefore)).toEqual(expect.arrayContaining(['policy_versions', 'entities', 'identity_sources', 'credentials', 'audit_events', 'audit_heads', 'tenant_settings_versions']));

      expect(await store.tenants.delete('acme')).toBe(true);
      expect(await rowsOf('acme')).toEqual({ audit_events: 2, audit_heads: 1 });
      expect(await rowsOf('globex')).toEqual(globexBefore);
      expect(await store.tenants.get('acme')).toBeNull();
      expect((await store.tenants.list()).map((tenant) => tenant.id)).toEqual(['globex']);
      const tombstone = await store.tenants.get('acme', { includeDeleted: true });
      expect(tombstone).toMatchObject({ id: 'acme', activeVersion: null, settings: {} });
      expect(tombstone?.deletedAt).toMatch(ISO_TIME);
      // The audit stays readable and chained; a decision answered just before the deletion still lands.
      await store.audit.append([decision('acme')], { skipExisting: false });
      expect(await store.audit.query('acme', { limit: 10 })).toHaveLength(3);
      // Gone for every write; the id is not taken again; deleting twice finds nothing.
      expect(await store.tenants.updateSettings('acme', { set: { validateRequests: true }, remove: [] })).toBeNull();
      await expectVerityError(store.policies.createVersion('acme', versionInput('v2')), 'ERR_TENANT_NOT_FOUND');
      await expectVerityError(store.tenants.create({ id: 'acme', name: 'Again', settings: {} }), 'ERR_TENANT_EXISTS');
      expect(await store.tenants.delete('acme')).toBe(false);
      expect(await store.tenants.delete('missing')).toBe(false);
      // The tombstone satisfies every foreign key, so a trigger refuses rows for a deleted tenant
      // on every table that references tenants (found in the catalog), but the audit's.
      await expectVerityError(store.entities.upsert('acme', [user('late')]), 'ERR_TENANT_NOT_FOUND');
      await expectVerityError(store.identity.putSource({ tenant: 'acme', id: 'late', config: { issuer: 'https://a.example' } }), 'ERR_TENANT_NOT_FOUND');
      const { rows: guarded } = await store.db.query<{ table_name: string }>(
        `SELECT c.relname AS table_name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = 'refuse_deleted_tenant'`,
      );
      const unguarded = tables.map((t) => t.table_name).filter((t) => !guarded.some((g) => g.table_name === t));
      expect(unguarded.sort()).toEqual(['audit_checkpoints', 'audit_events', 'audit_heads']);
    });

    it('refuses a tenant holding text the store cannot hold with ERR_TENANT_INVALID', async () => {
      await expectVerityError(handle.store.tenants.create({ id: 'nul\u0000', name: 'N', settings: {} }), 'ERR_TENANT_INVALID');
      await expectVerityError(handle.store.tenants.create({ id: 'ok', name: 'N', settings: { typeMapping: { u: 'a\u0000' } } }), 'ERR_TENANT_INVALID');
      expect(await handle.store.tenants.list()).toEqual([]);
    });
  });

  describeTenantLifecycle(handle);

  describe('policies', () => {
    it('numbers versions 1, 2, 3 per tenant, independently of other tenants', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      const a1 = await store.policies.createVersion('a', versionInput('a1'));
      const a2 = await store.policies.createVersion('a', versionInput('a2'));
      const b1 = await store.policies.createVersion('b', versionInput('b1'));
      const a3 = await store.policies.createVersion('a', versionInput('a3'));
      expect([a1.version, a2.version, a3.version, b1.version]).toEqual([1, 2, 3, 1]);
      expect(a3).toEqual({ tenant: 'a', version: 3, hash: versionInput('a3').hash, createdAt: a3.createdAt, createdBy: 'tester', message: 'version a3', active: true });
      expect(a3.createdAt).toMatch(ISO_TIME);
      const listed = await store.policies.listVersions('a');
      expect(listed.map((info) => [info.version, info.active])).toEqual([[1, false], [2, false], [3, true]]);
    });

    it('round-trips content, with and without a schema', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const withSchema = policyContent('s', 'entity User; action read appliesTo { principal: User, resource: User };');
      await store.policies.createVersion('a', versionInput('one'));
      await store.policies.createVersion('a', { ...versionInput('two'), content: withSchema });
      expect((await store.policies.getVersion('a', 1))?.content).toEqual(policyContent('one'));
      const two = await store.policies.getVersion('a', 2);
      expect(two?.content).toEqual(withSchema);
      expect(two).toMatchObject({ tenant: 'a', version: 2, active: true });
      expect(await store.policies.getVersion('a', 3)).toBeNull();
      expect(await store.policies.getVersion('a', 0)).toBeNull();
    });

    it('leaves the active version alone when activate is false', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      expect(await store.policies.getActive('a')).toBeNull();
      const draft = await store.policies.createVersion('a', versionInput('draft', { activate: false }));
      expect(draft.active).toBe(false);
      expect(await store.policies.getActive('a')).toBeNull();
      expect((await store.tenants.get('a'))?.activeVersion).toBeNull();
      await store.policies.createVersion('a', versionInput('live'));
      await store.policies.createVersion('a', versionInput('draft2', { activate: false }));
      expect((await store.policies.getActive('a'))?.version).toBe(2);
      expect((await store.tenants.get('a'))?.activeVersion).toBe(2);
    });

    it('activates an older version (rollback) and a newer one again', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      for (const label of ['v1', 'v2', 'v3']) await store.policies.createVersion('a', versionInput(label));
      const rolledBack = await store.policies.activate('a', 1);
      expect(rolledBack).toMatchObject({ tenant: 'a', version: 1, active: true, message: 'version v1' });
      const active = await store.policies.getActive('a');
      expect(active?.version).toBe(1);
      expect(active?.content).toEqual(policyContent('v1'));
      expect((await store.tenants.get('a'))?.activeVersion).toBe(1);
      expect((await store.policies.listVersions('a')).filter((info) => info.active).map((info) => info.version)).toEqual([1]);
      await store.policies.activate('a', 3);
      expect((await store.tenants.get('a'))?.activeVersion).toBe(3);
    });

    it('reports unknown versions and tenants with their codes', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.policies.createVersion('a', versionInput('v1'));
      await expectVerityError(store.policies.activate('a', 2), 'ERR_POLICY_VERSION_NOT_FOUND');
      await expectVerityError(store.policies.activate('a', 1.5), 'ERR_POLICY_VERSION_NOT_FOUND');
      await expectVerityError(store.policies.activate('nobody', 1), 'ERR_TENANT_NOT_FOUND');
      await expectVerityError(store.policies.createVersion('nobody', versionInput('x')), 'ERR_TENANT_NOT_FOUND');
      expect((await store.policies.getActive('a'))?.version).toBe(1);
    });

    it('gives concurrent createVersion calls distinct consecutive versions', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const labels = Array.from({ length: 12 }, (_, index) => `c${index}`);
      const created = await Promise.all(labels.map((label) => store.policies.createVersion('a', versionInput(label))));
      expect(created.map((info) => info.version).sort((x, y) => x - y)).toEqual(labels.map((_, index) => index + 1));
      const listed = await store.policies.listVersions('a');
      expect(listed.map((info) => info.version)).toEqual(labels.map((_, index) => index + 1));
      // Each stored version holds the content its own call sent.
      for (const info of created) {
        const stored = await store.policies.getVersion('a', info.version);
        expect(stored?.message).toBe(info.message);
        expect(stored?.content).toEqual(policyContent(info.message.replace('version ', '')));
      }
      expect(listed.filter((info) => info.active)).toHaveLength(1);
    });

    it('never shows one tenant the versions of another', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      await store.policies.createVersion('a', versionInput('secret'));
      expect(await store.policies.listVersions('b')).toEqual([]);
      expect(await store.policies.getVersion('b', 1)).toBeNull();
      expect(await store.policies.getActive('b')).toBeNull();
      await expectVerityError(store.policies.activate('b', 1), 'ERR_POLICY_VERSION_NOT_FOUND');
      expect((await store.tenants.get('b'))?.activeVersion).toBeNull();
    });
  });
}
