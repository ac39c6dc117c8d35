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
});
