import { describe, expect, it } from 'vitest';
import { encodeDecisionInput, isDecisionInputText, MAX_DECISION_INPUT_CHARS, parseDecisionInput } from './decision-input.js';

describe('decision input', () => {
  const parts = {
    context: { big: 9_007_199_254_740_993n, when: { __extn: { fn: 'datetime', arg: '2026-12-02' } }, s: 'text "quoted" \\ é ✓' },
    overlays: [{ uid: { type: 'User', id: 'alice' }, attrs: { level: 3 }, parents: [{ type: 'Group', id: 'staff' }] }],
    provided: [{ uid: { type: 'Device', id: 'd1' }, attrs: {}, parents: [] }],
    risk: { score: 40, level: 'medium' },
  };

  it('is JSON text that reads back exactly: Longs past 2^53, Cedar escapes', () => {
    const text = encodeDecisionInput(parts);
    expect(text).toContain('9007199254740993');
    expect(parseDecisionInput(text)).toEqual({ v: 1, ...parts });
  });

  it('writes NUL and lone surrogates as JSON escapes (storable text), and replay refuses to read them back: no live request carries them', () => {
    const text = encodeDecisionInput({ ...parts, context: { s: 'nul\u0000 and \ud800' } });
    expect(text).not.toMatch(/\u0000|[\ud800-\udfff]/);
    expect(text).toContain('\\u0000');
    expect(parseDecisionInput(text)).toBeNull();
    expect(parseDecisionInput(encodeDecisionInput({ ...parts, context: { ['k\udc00']: 1 } }))).toBeNull();
  });

  it('refuses an input nested past MAX_VALUE_DEPTH, without recursion however deep', () => {
    const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    expect(parseDecisionInput(`{"v":1,"context":{"x":${nest(30)}},"overlays":[],"provided":[]}`)).not.toBeNull();
    expect(parseDecisionInput(`{"v":1,"context":{"x":${nest(40)}},"overlays":[],"provided":[]}`)).toBeNull();
    expect(parseDecisionInput(`{"v":1,"context":{"x":${nest(7900)}},"overlays":[],"provided":[]}`)).toBeNull();
  });

  it('records an input past the bound as omitted, which replay skips', () => {
    const text = encodeDecisionInput({ ...parts, context: { blob: 'x'.repeat(MAX_DECISION_INPUT_CHARS) } });
    expect(JSON.parse(text)).toEqual({ v: 1, omitted: 'too-large', chars: expect.any(Number) });
    expect(parseDecisionInput(text)).toBeNull();
    expect(isDecisionInputText(text)).toBe(true);
  });

  it('reads only inputs of the shape it writes', () => {
    for (const bad of [undefined, 'not json', '[]', '{"v":2}', '{"v":1,"context":[],"overlays":[],"provided":[]}', '{"v":1,"context":{},"overlays":[{"uid":"User::\\"a\\""}],"provided":[]}', '{"v":1,"context":{},"overlays":[],"provided":[{"uid":{"type":"A","id":"b"}}]}']) {
      expect(parseDecisionInput(bad)).toBeNull();
    }
    expect(isDecisionInputText('x'.repeat(MAX_DECISION_INPUT_CHARS + 1))).toBe(false);
  });
});
