import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { generateToken } from './admin/credentials.js';

describe('resolveConfig', () => {
  it('takes an admin token only if an Authorization: Bearer header can carry it', () => {
    for (const token of [generateToken(), 'vrt_chosen-one', 'abc+/~==', 'x'.repeat(512)]) expect(resolveConfig({ adminToken: token }).adminToken).toBe(token);
    for (const token of ['', 'two words', 'a=b', 'x'.repeat(513), 'é']) expect(() => resolveConfig({ adminToken: token }), token).toThrow(TypeError);
  });

  it('refuses unknown options and a default tenant that is not a tenant id', () => {
    expect(() => resolveConfig({ nope: 1 } as never)).toThrow(/unknown server option "nope"/);
    expect(() => resolveConfig({ defaultTenant: '_system' })).toThrow(TypeError);
  });

  it('gives bundles ten minutes by default and takes 10 s to a day', () => {
    expect(resolveConfig().bundleTtlSec).toBe(600);
    expect(resolveConfig({ bundleTtlSec: 60 }).bundleTtlSec).toBe(60);
    for (const bundleTtlSec of [0, 9, 86_401, 1.5, Number.NaN]) expect(() => resolveConfig({ bundleTtlSec }), String(bundleTtlSec)).toThrow(TypeError);
  });
});
