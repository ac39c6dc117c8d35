import { describe, expect, it } from 'vitest';
import { formatEntityUid, parseEntityUid } from './entity-uid.js';

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
