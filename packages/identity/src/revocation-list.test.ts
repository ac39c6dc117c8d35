import { describe, expect, it } from 'vitest';
import { createRevocationList, type RevocationCheck } from './revocation-list.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW = T0 / 1000;

function setup(options: { graceSec?: number; maxTokenLifetimeSec?: number } = {}) {
  let t = T0;
  const list = createRevocationList({ now: () => t, ...options });
  return { list, advance: (sec: number) => (t += sec * 1000) };
}

const token = (overrides: Partial<RevocationCheck> = {}): RevocationCheck => ({ tenant: 'acme', tokenId: 'jti-1', subject: 'alice', clientId: 'web', issuedAt: NOW - 60, ...overrides });

describe('createRevocationList', () => {
  it('revokes by token id within the tenant only', () => {
    const { list } = setup();
    list.add({ kind: 'token', tenant: 'acme', tokenId: 'jti-1', expiresAt: NOW + 300 });
    expect(list.isRevoked(token())).toBe(true);
    expect(list.isRevoked(token({ tokenId: 'jti-2' }))).toBe(false);
    expect(list.isRevoked(token({ tenant: 'other' }))).toBe(false);
    expect(list.isRevoked(token({ tokenId: null }))).toBe(false);
  });

  it('revokes a subject for tokens issued at or before the cutoff', () => {
    const { list } = setup();
    list.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    expect(list.isRevoked(token({ issuedAt: NOW - 1 }))).toBe(true);
    expect(list.isRevoked(token({ issuedAt: NOW }))).toBe(true);
    expect(list.isRevoked(token({ issuedAt: NOW + 1 }))).toBe(false);
    expect(list.isRevoked(token({ issuedAt: NOW - 1, subject: 'bob' }))).toBe(false);
    // Without iat a token cannot show it postdates the revocation.
    expect(list.isRevoked(token({ issuedAt: null }))).toBe(true);
  });

  it('counts a token whose iat is ahead within its clock tolerance as issued before a cutoff it may predate', () => {
    const { list } = setup();
    list.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    list.add({ kind: 'client', tenant: 'acme', clientId: 'mobile', issuedBefore: NOW });
    // Minted just before the revocation by an issuer whose clock runs 20 s ahead.
    expect(list.isRevoked(token({ issuedAt: NOW + 20, clockToleranceSec: 30 }))).toBe(true);
    expect(list.isRevoked(token({ subject: 'bob', clientId: 'mobile', issuedAt: NOW + 20, clockToleranceSec: 30 }))).toBe(true);
    expect(list.isRevoked(token({ issuedAt: NOW + 31, clockToleranceSec: 30 }))).toBe(false);
    expect(list.isRevoked(token({ issuedAt: NOW + 20 }))).toBe(false);
  });

  it('revokes a client for tokens issued at or before the cutoff', () => {
    const { list } = setup();
    list.add({ kind: 'client', tenant: 'acme', clientId: 'web', issuedBefore: NOW });
    expect(list.isRevoked(token({ issuedAt: NOW }))).toBe(true);
    expect(list.isRevoked(token({ issuedAt: NOW + 1 }))).toBe(false);
    expect(list.isRevoked(token({ clientId: 'mobile' }))).toBe(false);
    expect(list.isRevoked(token({ clientId: null }))).toBe(false);
  });

  it('keeps the latest cutoff when a subject is revoked twice', () => {
    const { list } = setup();
    list.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW + 100 });
    list.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    expect(list.isRevoked(token({ issuedAt: NOW + 50 }))).toBe(true);
  });

  it('accepts revoking an already-expired token without storing it (RFC 7009)', () => {
    const { list } = setup({ graceSec: 0 });
    expect(() => list.add({ kind: 'token', tenant: 'acme', tokenId: 'old', expiresAt: NOW - 1 })).not.toThrow();
    expect(list.snapshot()).toEqual([]);
  });

  it('forgets token entries after expiry plus grace, and cutoffs only when bounded', () => {
    const { list, advance } = setup({ graceSec: 30, maxTokenLifetimeSec: 3600 });
    list.add({ kind: 'token', tenant: 'acme', tokenId: 'jti-1', expiresAt: NOW + 100 });
    list.add({ kind: 'subject', tenant: 'acme', subject: 'alice', issuedBefore: NOW });
    advance(129);
    expect(list.forgetExpired()).toBe(0);
    expect(list.isRevoked(token({ subject: 'bob' }))).toBe(true);
    advance(2);
    expect(list.forgetExpired()).toBe(1);
    expect(list.isRevoked(token({ subject: 'bob' }))).toBe(false);
    expect(list.isRevoked(token())).toBe(true);
    advance(3600);
    expect(list.forgetExpired()).toBe(1);
    expect(list.snapshot()).toEqual([]);
  });

  it('keeps subject and client cutoffs forever without maxTokenLifetimeSec', () => {
    const { list, advance } = setup();
    list.add({ kind: 'client', tenant: 'acme', clientId: 'web', issuedBefore: NOW });
    advance(10 * 365 * 86400);
    expect(list.forgetExpired()).toBe(0);
    expect(list.isRevoked(token())).toBe(true);
  });

  it('round-trips through snapshot and load, and load replaces', () => {
    const { list } = setup();
    list.add({ kind: 'token', tenant: 'acme', tokenId: 'jti-1', expiresAt: NOW + 300 });
    list.add({ kind: 'subject', tenant: 't2', subject: 'alice', issuedBefore: NOW });
    list.add({ kind: 'client', tenant: 'acme', clientId: 'web', issuedBefore: NOW - 3600 });
    const saved = list.snapshot();
    const { list: restored } = setup();
    restored.add({ kind: 'subject', tenant: 'acme', subject: 'mallory', issuedBefore: NOW });
    restored.load(saved);
    expect(restored.snapshot()).toEqual(saved);
    expect(restored.isRevoked(token({ subject: 'mallory', tokenId: null, clientId: null }))).toBe(false);
    expect(restored.isRevoked(token({ tenant: 't2', tokenId: null }))).toBe(true);
  });

  it('rejects malformed revocations and leaves the list intact on a bad load', () => {
    const { list } = setup();
    list.add({ kind: 'token', tenant: 'acme', tokenId: 'jti-1', expiresAt: NOW + 300 });
    expect(() => list.add({ kind: 'token', tenant: 'acme', tokenId: '', expiresAt: NOW } as never)).toThrow(TypeError);
    expect(() => list.load([{ kind: 'subject', tenant: 'acme', subject: 'x', issuedBefore: Number.NaN }])).toThrow(TypeError);
    expect(list.isRevoked(token())).toBe(true);
    expect(() => createRevocationList({ ttl: 1 } as never)).toThrow(/unknown/);
  });
});
