import { describe, expect, it } from 'vitest';
import { isPlainObject, isRequestId, isTenantId, isTierLabel } from './wire-format.js';

describe('wire formats', () => {
  it('tenant ids are DNS labels; the system tenant is not one', () => {
    for (const id of ['acme', 'a', '0-x', 'a'.repeat(63)]) expect(isTenantId(id), id).toBe(true);
    for (const id of ['_system', '', '-a', 'Acme', 'a_b', 'a'.repeat(64), 'a/b', 7, null]) expect(isTenantId(id), String(id)).toBe(false);
  });

  it('request ids are short header-safe tokens', () => {
    for (const id of ['req-42', 'a:b@c/d+e=f.g_h', 'x'.repeat(128)]) expect(isRequestId(id), id).toBe(true);
    for (const id of ['', 'a b', 'a\nb', 'x'.repeat(129), 'é', 42]) expect(isRequestId(id), String(id)).toBe(false);
  });

  it('tier labels are shorter and narrower than request ids', () => {
    for (const tier of ['gateway', 'orders.v2', 'ns:svc/a-b_c', 'x'.repeat(64)]) expect(isTierLabel(tier), tier).toBe(true);
    for (const tier of ['', 'a+b', 'a@b', 'a b', 'x'.repeat(65), undefined]) expect(isTierLabel(tier), String(tier)).toBe(false);
  });

  it('plain objects exclude null and arrays', () => {
    expect(isPlainObject({})).toBe(true);
    for (const value of [null, [], 'x', 1, undefined]) expect(isPlainObject(value)).toBe(false);
  });
});
