import { describe, expect, it } from 'vitest';
import { canonicalJson, hashCanonical } from './canonical-json.js';

describe('canonical JSON', () => {
  it('sorts keys at every depth, drops undefined members and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }, undefined], é: null, A: true })).toBe('{"A":true,"a":[1,{"c":"x"},null],"b":1,"é":null}');
  });
  it('hashes equal values equally whatever their key order', () => {
    expect(hashCanonical({ x: 1, y: [2, { z: 3, w: 4 }] })).toBe(hashCanonical({ y: [2, { w: 4, z: 3 }], x: 1 }));
    expect(hashCanonical({ x: 1 })).not.toBe(hashCanonical({ x: 2 }));
  });
});
