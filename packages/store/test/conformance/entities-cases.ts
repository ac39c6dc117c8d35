/** Conformance cases for the entities repository. */
import { describe, expect, it } from 'vitest';
import type { Entity } from '@verity/core';
import { createTenants, expectVerityError, useFreshStore, user } from './fixtures.js';
import type { ConformanceDatabases } from './fixtures.js';

/** Register the entities cases. */
export function describeEntities(databases: ConformanceDatabases): void {
  const handle = useFreshStore(databases);

  describe('entities', () => {
    it('upserts, reads back exactly (tags included) and replaces on a second upsert', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const tagged = user('bob', {
        attrs: { nested: { list: [1, 'two', true, null], ref: { __entity: { type: 'User', id: 'alice' } } }, ip: { __extn: { fn: 'ip', arg: '10.0.0.1' } } },
        tags: { clearance: 'secret' },
      });
      expect(await store.entities.upsert('a', [user('alice'), tagged])).toBe(2);
      const read = await store.entities.getMany('a', [{ type: 'User', id: 'bob' }, { type: 'User', id: 'alice' }, { type: 'User', id: 'ghost' }]);
      expect(read).toEqual([user('alice'), tagged]);
      expect('tags' in (read[0] as Entity)).toBe(false);

      const changed = user('alice', { attrs: { name: 'Alice', level: 9 }, parents: [] });
      expect(await store.entities.upsert('a', [changed])).toBe(1);
      expect(await store.entities.getMany('a', [{ type: 'User', id: 'alice' }])).toEqual([changed]);
      expect(await store.entities.getMany('a', [])).toEqual([]);
    });

    it('runs an upsert check in the write transaction, against the stored entities, and writes nothing when it throws', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.entities.upsert('a', [user('alice', { parents: [{ type: 'Group', id: 'g' }] })]);
      const seen: Entity[][] = [];
      expect(await store.entities.upsert('a', [user('bob')], async (getMany) => void seen.push(await getMany([{ type: 'User', id: 'alice' }, { type: 'User', id: 'ghost' }])))).toBe(1);
      expect(seen).toEqual([[user('alice', { parents: [{ type: 'Group', id: 'g' }] })]]);
      await expect(store.entities.upsert('a', [user('carol')], async () => Promise.reject(new Error('refused by the check')))).rejects.toThrow('refused by the check');
      expect(await store.entities.getMany('a', [{ type: 'User', id: 'carol' }, { type: 'User', id: 'bob' }])).toEqual([user('bob')]);
    });

    it('applies duplicates within one batch in order (last wins)', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const last = user('x', { attrs: { v: 2 } });
      expect(await store.entities.upsert('a', [user('x', { attrs: { v: 1 } }), user('y'), last])).toBe(2);
      expect(await store.entities.getMany('a', [{ type: 'User', id: 'x' }])).toEqual([last]);
    });

    it('replaces the whole set of one tenant only', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      await store.entities.upsert('a', [user('old1'), user('old2')]);
      await store.entities.upsert('b', [user('old1')]);
      expect(await store.entities.replaceAll('a', [user('new1'), user('old2', { attrs: { fresh: true } })])).toBe(2);
      const page = await store.entities.list('a', { limit: 10 });
      expect(page.entities).toEqual([user('new1'), user('old2', { attrs: { fresh: true } })]);
      expect(await store.entities.listIds('b', 'User')).toEqual(['old1']);
      expect(await store.entities.replaceAll('a', [])).toBe(0);
      expect((await store.entities.list('a', { limit: 10 })).entities).toEqual([]);
    });

    it('deletes one entity and reports whether it existed', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      await store.entities.upsert('a', [user('alice'), user('bob')]);
      await store.entities.upsert('b', [user('alice')]);
      expect(await store.entities.delete('a', { type: 'User', id: 'alice' })).toBe(true);
      expect(await store.entities.delete('a', { type: 'User', id: 'alice' })).toBe(false);
      expect(await store.entities.listIds('a', 'User')).toEqual(['bob']);
      expect(await store.entities.listIds('b', 'User')).toEqual(['alice']);
    });

    it('rejects writes to an unknown tenant with ERR_TENANT_NOT_FOUND', async () => {
      const { store } = handle;
      await expectVerityError(store.entities.upsert('nobody', [user('alice')]), 'ERR_TENANT_NOT_FOUND');
      await expectVerityError(store.entities.replaceAll('nobody', []), 'ERR_TENANT_NOT_FOUND');
      await expectVerityError(store.entities.delete('nobody', { type: 'User', id: 'alice' }), 'ERR_TENANT_NOT_FOUND');
    });

    it('pages through all entities in (type, id) byte order with an opaque cursor', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      const numbered = Array.from({ length: 18 }, (_, index) => `u${index.toString().padStart(2, '0')}`);
      // Byte order: uppercase before lowercase, whatever the server's default collation.
      const userOrder = ['Zed', 'alpha', ...numbered];
      const ids = [...numbered].reverse().concat(['alpha', 'Zed']);
      const docs: Entity[] = Array.from({ length: 5 }, (_, index) => ({ uid: { type: 'Doc', id: `d${index}` }, attrs: {}, parents: [] }));
      await store.entities.upsert('a', [...ids.map((id) => user(id)), ...docs]);

      const seen: string[] = [];
      const sizes: number[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.entities.list('a', after === undefined ? { limit: 10 } : { limit: 10, after });
        sizes.push(page.entities.length);
        seen.push(...page.entities.map((entity) => `${entity.uid.type}/${entity.uid.id}`));
        if (page.next === null) break;
        expect(page.next).toMatch(/^[A-Za-z0-9_-]+$/);
        after = page.next;
      }
      expect(sizes).toEqual([10, 10, 5]);
      const expected = [...docs.map((doc) => `Doc/${doc.uid.id}`), ...userOrder.map((id) => `User/${id}`)];
      expect(seen).toEqual(expected);

      const exact = await store.entities.list('a', { type: 'Doc', limit: 5 });
      expect(exact.entities.map((entity) => entity.uid.id)).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
      expect(exact.next).toBeNull();
      const typed = await store.entities.list('a', { type: 'User', limit: 19 });
      expect(typed.entities.every((entity) => entity.uid.type === 'User')).toBe(true);
      const rest = await store.entities.list('a', { type: 'User', limit: 19, after: typed.next ?? '' });
      expect(rest.entities.map((entity) => entity.uid.id)).toEqual(['u17']);
      expect(rest.next).toBeNull();
      expect(await store.entities.listIds('a', 'User')).toEqual(userOrder);
      expect(await store.entities.listIds('a', 'Nothing')).toEqual([]);
    });

    it('refuses a batch holding text the store cannot hold, writing none of it', async () => {
      const { store } = handle;
      await createTenants(store, 'a');
      await store.entities.upsert('a', [user('kept')]);
      for (const bad of [user('nul\u0000id'), user('x', { attrs: { email: 'a\u0000b' } }), user('y', { attrs: { s: 'a\udcfcb' } })]) {
        await expectVerityError(store.entities.upsert('a', [user('good'), bad]), 'ERR_ENTITY_INVALID');
        await expectVerityError(store.entities.replaceAll('a', [user('good'), bad]), 'ERR_ENTITY_INVALID');
      }
      expect(await store.entities.listIds('a', 'User')).toEqual(['kept']);
    });

    it('rejects a malformed cursor with ERR_REQUEST_INVALID', async () => {
      await createTenants(handle.store, 'a');
      await expectVerityError(handle.store.entities.list('a', { limit: 5, after: 'not a cursor!' }), 'ERR_REQUEST_INVALID');
      const wrongShape = Buffer.from(JSON.stringify({ type: 'User' })).toString('base64url');
      await expectVerityError(handle.store.entities.list('a', { limit: 5, after: wrongShape }), 'ERR_REQUEST_INVALID');
    });

    it('never shows one tenant the entities of another', async () => {
      const { store } = handle;
      await createTenants(store, 'a', 'b');
      await store.entities.upsert('a', [user('alice')]);
      expect(await store.entities.getMany('b', [{ type: 'User', id: 'alice' }])).toEqual([]);
      expect(await store.entities.list('b', { limit: 10 })).toEqual({ entities: [], next: null });
      expect(await store.entities.listIds('b', 'User')).toEqual([]);
      expect(await store.entities.delete('b', { type: 'User', id: 'alice' })).toBe(false);
      expect(await store.entities.listIds('a', 'User')).toEqual(['alice']);
    });
  });
}
