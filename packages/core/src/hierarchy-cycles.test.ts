import { describe, expect, it } from 'vitest';
import { assertNoHierarchyCycle } from './hierarchy-cycles.js';
import { formatEntityUid } from './entity-uid.js';
import type { Entity, EntityUid } from './types.js';

const uid = (i: number): EntityUid => ({ type: i % 2 === 0 ? 'Group' : 'User', id: `e${i}` });

describe('assertNoHierarchyCycle', () => {
  it('refuses exactly the writes that close a cycle over the stored entities, on 2,000 random stores and writes', async () => {
    let seed = 11;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let refused = 0;
    for (let round = 0; round < 2000; round++) {
      const pool = 3 + Math.floor(next() * 12);
      // An acyclic store: parents only among higher numbers.
      const stored = new Map<string, Entity>();
      for (let i = 0; i < pool; i++) {
        if (next() < 0.2) continue;
        const parents = Array.from({ length: Math.floor(next() * 3) }, () => uid(i + 1 + Math.floor(next() * (pool - i))));
        stored.set(formatEntityUid(uid(i)), { uid: uid(i), attrs: {}, parents });
      }
      const written: Entity[] = Array.from({ length: 1 + Math.floor(next() * 3) }, () => {
        const i = Math.floor(next() * pool);
        return { uid: uid(i), attrs: {}, parents: Array.from({ length: Math.floor(next() * 3) }, () => uid(Math.floor(next() * (pool + 2)))) };
      });
      // The reference: the merged graph (the last written version of a uid wins), any cycle at all.
      const merged = new Map(stored);
      for (const entity of written) merged.set(formatEntityUid(entity.uid), entity);
      const cyclic = [...merged.keys()].some((start) => {
        const seen = new Set<string>();
        const stack = [...(merged.get(start)?.parents ?? [])].map(formatEntityUid);
        while (stack.length > 0) {
          const key = stack.pop() as string;
          if (key === start) return true;
          if (seen.has(key)) continue;
          seen.add(key);
          stack.push(...(merged.get(key)?.parents ?? []).map(formatEntityUid));
        }
        return false;
      });
      const lookup = async (uids: EntityUid[]) => uids.flatMap((u) => stored.get(formatEntityUid(u)) ?? []);
      const last = new Map(written.map((entity) => [formatEntityUid(entity.uid), entity]));
      const got = await assertNoHierarchyCycle([...last.values()], lookup).then(
        () => false,
        (error: { code?: string }) => {
          expect(error.code).toBe('ERR_ENTITY_INVALID');
          return true;
        },
      );
      expect(got, JSON.stringify({ stored: [...stored.values()], written })).toBe(cyclic);
      if (got) refused++;
    }
    // Both outcomes are exercised.
    expect(refused).toBeGreaterThan(100);
    expect(refused).toBeLessThan(1900);
  });

  it('refuses a self-parent and a deep chain closed at its end, and accepts a diamond', async () => {
    const none = async () => [];
    await expect(assertNoHierarchyCycle([{ uid: uid(1), attrs: {}, parents: [uid(1)] }], none)).rejects.toMatchObject({ code: 'ERR_ENTITY_INVALID' });
    const chain = new Map(Array.from({ length: 5000 }, (_, i) => [formatEntityUid(uid(i)), { uid: uid(i), attrs: {}, parents: [uid(i + 1)] }]));
    const lookup = async (uids: EntityUid[]) => uids.flatMap((u) => chain.get(formatEntityUid(u)) ?? []);
    await expect(assertNoHierarchyCycle([{ uid: uid(5000), attrs: {}, parents: [uid(0)] }], lookup)).rejects.toMatchObject({ code: 'ERR_ENTITY_INVALID' });
    await expect(assertNoHierarchyCycle([{ uid: uid(5000), attrs: {}, parents: [uid(5001)] }], lookup)).resolves.toBeUndefined();
    const diamond = [
      { uid: uid(1), attrs: {}, parents: [uid(2), uid(4)] },
      { uid: uid(2), attrs: {}, parents: [uid(6)] },
      { uid: uid(4), attrs: {}, parents: [uid(6)] },
    ];
    await expect(assertNoHierarchyCycle(diamond, none)).resolves.toBeUndefined();
  });
});
