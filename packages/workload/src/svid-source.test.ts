import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createStaticSvidSource, type X509Svid } from './svid-source.js';
import { makeSvid, makeTrustDomain } from './test-helpers.js';
import type { TrustBundle } from './trust-bundle.js';

let svid: X509Svid;
let bundle: TrustBundle;

beforeAll(async () => {
  const td = await makeTrustDomain('td');
  bundle = td.bundle;
  svid = await makeSvid(td.authority, 'spiffe://td/a');
});

describe('createStaticSvidSource', () => {
  it('serves the state, merges updates, notifies listeners and isolates a failing one', () => {
    const source = createStaticSvidSource({ svid, bundle });
    expect(source.current().denied.size).toBe(0);
    const before = source.current();
    const seen = vi.fn();
    const unsubscribe = source.subscribe(() => {
      throw new Error('listener bug');
    });
    source.subscribe(seen);
    source.update({ denied: new Set(['spiffe://td/b']) });
    expect(seen).toHaveBeenCalledTimes(1);
    expect(source.current().denied.has('spiffe://td/b')).toBe(true);
    expect(source.current().svid).toBe(svid);
    expect(before.denied.size).toBe(0); // readers holding the old state keep it
    unsubscribe();
    source.update({ bundle: { ...bundle, sequence: 2 } });
    expect(seen).toHaveBeenCalledTimes(2);
  });

  it('drops listeners on close and refuses malformed states', async () => {
    const source = createStaticSvidSource({ svid, bundle });
    const seen = vi.fn();
    source.subscribe(seen);
    await source.close();
    source.update({ denied: new Set() });
    expect(seen).not.toHaveBeenCalled();
    expect(() => createStaticSvidSource({ svid: {} as X509Svid, bundle })).toThrow(TypeError);
    expect(() => createStaticSvidSource({ svid, bundle: {} as TrustBundle })).toThrow(TypeError);
    expect(() => source.update({ denied: ['x'] as never })).toThrow(TypeError);
    expect(() => source.subscribe('x' as never)).toThrow(TypeError);
  });
});
