import { describe, expect, it } from 'vitest';
import { countAncestorPairs, entityReferenceOf, sliceEntities } from './entity-slice.js';
import { formatEntityUid } from './entity-uid.js';
import { MAX_ANCESTOR_PAIRS, MAX_SLICE_ENTITIES, MAX_VALUE_DEPTH } from './limits.js';
import type { CedarValue, Entity, EntityUid } from './types.js';

function store(entities: Entity[]) {
  const byKey = new Map(entities.map((e) => [formatEntityUid(e.uid), e]));
  return (uids: EntityUid[]) => uids.flatMap((uid) => byKey.get(formatEntityUid(uid)) ?? []);
}
const uid = (type: string, id: string) => ({ type, id });
const entity = (type: string, id: string, parents: EntityUid[] = [], attrs: Record<string, CedarValue> = {}): Entity => ({ uid: uid(type, id), attrs, parents });

describe('the entity slice', () => {
  it('follows parents and references, whether written with __entity or as a {type, id} record', async () => {
    const lookup = store([
      entity('User', 'u', [uid('Group', 'g')], { manager: { __entity: uid('User', 'm') }, team: { type: 'Team', id: 't' } }),
      entity('Group', 'g', [uid('Group', 'top')]),
      entity('Group', 'top'),
      entity('User', 'm'),
      entity('Team', 't'),
      entity('User', 'unrelated'),
    ]);
    const slice = await sliceEntities([uid('User', 'u')], lookup);
    expect(slice.entities.map((e) => formatEntityUid(e.uid)).sort()).toEqual(['Group::"g"', 'Group::"top"', 'Team::"t"', 'User::"m"', 'User::"u"']);
  });

  it('reports the longest string it holds (it feeds like)', async () => {
    const slice = await sliceEntities([uid('Doc', 'd')], store([entity('Doc', 'd', [], { title: 'x'.repeat(77), tags: ['y'.repeat(90)] })]));
    expect(slice.longestString).toBe(90);
  });

  it('refuses, never cuts, a request that needs more than MAX_SLICE_ENTITIES', async () => {
    const members = Array.from({ length: MAX_SLICE_ENTITIES }, (_, i) => entity('Doc', `d${i}`));
    const wide = entity('Doc', 'wide', [], { refs: members.map((m) => ({ __entity: m.uid })) });
    await expect(sliceEntities([wide.uid], store([wide, ...members]))).rejects.toMatchObject({ code: 'ERR_DECISION_LIMIT', message: expect.stringMatching(/MAX_SLICE_ENTITIES/) });
    // One fewer fits.
    const fits = entity('Doc', 'fits', [], { refs: members.slice(1).map((m) => ({ __entity: m.uid })) });
    expect((await sliceEntities([fits.uid], store([fits, ...members]))).entities).toHaveLength(MAX_SLICE_ENTITIES);
  });

  it('refuses a hierarchy whose ancestor pairs pass MAX_ANCESTOR_PAIRS', async () => {
    const depth = Math.ceil(Math.sqrt(2 * MAX_ANCESTOR_PAIRS)) + 2;
    const chain = Array.from({ length: depth }, (_, i) => entity('Group', `g${i}`, i === 0 ? [] : [uid('Group', `g${i - 1}`)]));
    const member = entity('User', 'u', [uid('Group', `g${depth - 1}`)]);
    await expect(sliceEntities([member.uid], store([member, ...chain]))).rejects.toMatchObject({ code: 'ERR_DECISION_LIMIT', message: expect.stringMatching(/MAX_ANCESTOR_PAIRS/) });
    const shallow = entity('User', 'v', [uid('Group', 'g20')]);
    expect((await sliceEntities([shallow.uid], store([shallow, ...chain]))).entities).toHaveLength(22);
  });

  it('survives a cycle in the parent graph', async () => {
    const lookup = store([entity('Group', 'a', [uid('Group', 'b')]), entity('Group', 'b', [uid('Group', 'a')])]);
    expect((await sliceEntities([uid('Group', 'a')], lookup)).entities).toHaveLength(2);
  });

  it('refuses attribute values nested past MAX_VALUE_DEPTH', async () => {
    let deep: CedarValue = 1;
    for (let i = 0; i < MAX_VALUE_DEPTH + 1; i++) deep = { a: deep };
    await expect(sliceEntities([uid('Doc', 'd')], store([entity('Doc', 'd', [], { deep })]))).rejects.toMatchObject({ code: 'ERR_DECISION_LIMIT' });
  });

  it('never looks up the types it is told to skip (the schema\'s actions)', async () => {
    const asked: string[] = [];
    await sliceEntities([uid('Action', 'view'), uid('User', 'u')], (uids) => (asked.push(...uids.map(formatEntityUid)), []), { skipTypes: new Set(['Action']) });
    expect(asked).toEqual(['User::"u"']);
  });
});

describe('entity references', () => {
  it('are __entity escapes and {type, id} records, nothing else', () => {
    expect(entityReferenceOf({ __entity: { type: 'A', id: '' } })).toEqual({ type: 'A', id: '' });
    expect(entityReferenceOf({ type: 'A', id: 'x' })).toEqual({ type: 'A', id: 'x' });
    expect(entityReferenceOf({ type: 'A', id: 'x', extra: 1 })).toBeNull();
    expect(entityReferenceOf({ __extn: { fn: 'ip', arg: '1.2.3.4' } })).toBeNull();
    expect(entityReferenceOf('User::"x"')).toBeNull();
  });
});

describe('countAncestorPairs', () => {
  it('counts what a closure over the parent graph counts, on 3,000 random slices: small and large, cycles, self-loops, parents outside the slice', () => {
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 3000; round++) {
      const n = 1 + Math.floor(next() * (round % 3 === 0 ? 45 : 16));
      const pool = n + Math.floor(next() * 20);
      const uid = (i: number): EntityUid => ({ type: i % 3 === 0 ? 'Role' : 'User', id: `e${i}` });
      const entities: Entity[] = Array.from({ length: n }, (_, i) => ({
        uid: uid(i),
        attrs: {},
        parents: Array.from({ length: Math.floor(next() * 4) }, () => uid(Math.floor(next() * pool))),
      }));
      const byKey = new Map(entities.map((e) => [formatEntityUid(e.uid), e]));
      let expected = 0;
      for (const entity of entities) {
        const self = formatEntityUid(entity.uid);
        const seen = new Set<string>();
        const stack = [...entity.parents];
        while (stack.length > 0) {
          const key = formatEntityUid(stack.pop() as EntityUid);
          if (seen.has(key)) continue;
          seen.add(key);
          stack.push(...(byKey.get(key)?.parents ?? []));
        }
        seen.delete(self);
        expected += seen.size;
      }
      expect(countAncestorPairs(entities, Number.MAX_SAFE_INTEGER), JSON.stringify(entities)).toBe(expected);
    }
  });
});
