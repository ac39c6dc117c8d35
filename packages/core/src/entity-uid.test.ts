import { describe, expect, it } from 'vitest';
import { formatEntityUid, parseEntityUid, UidMap } from './entity-uid.js';

describe('formatEntityUid', () => {
  it('writes the id exactly as JSON.stringify does, for every UTF-16 code unit and the usual odd ids', () => {
    const ids = ['', 'a', 'a"b', 'a\\b', 'x\u0001', '\ud800', '\udc00x', '😀', 'é', '\u2028', '\u007f', 'tab\t', 'x\ud83d'];
    for (let unit = 0; unit < 0x10000; unit++) ids.push(`a${String.fromCharCode(unit)}`);
    for (const id of ids) expect(formatEntityUid({ type: 'NS::T', id })).toBe(`NS::T::${JSON.stringify(id)}`);
  });

  it('round-trips through parseEntityUid', () => {
    for (const id of ['', 'a"b', 'x\\y', '😀']) expect(parseEntityUid(formatEntityUid({ type: 'T', id }))).toEqual({ type: 'T', id });
  });
});

describe('UidMap', () => {
  it('keys by type and id, counts, deletes, and never confuses uids whose text would look alike', () => {
    const map = new UidMap<number>();
    map.set({ type: 'User', id: 'a' }, 1).set({ type: 'User', id: 'a' }, 2).set({ type: 'Group', id: 'a' }, 3);
    map.set({ type: 'A', id: 'b::"c' }, 4).set({ type: 'A::"b', id: 'c' }, 5).set({ type: 'User', id: '' }, 6);
    expect(map.size).toBe(5);
    expect(map.get({ type: 'User', id: 'a' })).toBe(2);
    expect(map.get({ type: 'A', id: 'b::"c' })).toBe(4);
    expect(map.get({ type: 'A::"b', id: 'c' })).toBe(5);
    expect(map.has({ type: 'User', id: '' })).toBe(true);
    expect(map.has({ type: 'User', id: 'b' })).toBe(false);
    expect(map.delete({ type: 'User', id: 'a' })).toBe(true);
    expect(map.delete({ type: 'User', id: 'a' })).toBe(false);
    expect(map.get({ type: 'User', id: 'a' })).toBeUndefined();
    expect(map.size).toBe(4);
    map.clear();
    expect(map.size).toBe(0);
    expect(map.get({ type: 'Group', id: 'a' })).toBeUndefined();
  });
});
