import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { generateToken } from './admin/credentials.js';

describe('resolveConfig', () => {
  it('takes an admin token only if an Authorization: Bearer header can carry it', () => {
    for (const token of [generateToken(), 'vrt_chosen-one-Of-32-characters-x', 'abc+/~Abc+/~Abc+/~Abc+/~Abc+/~Ab==', 'x'.repeat(512)]) expect(resolveConfig({ adminToken: token }).adminToken).toBe(token);
    for (const token of ['', 'two words but long enough to pass the length rule', 'a=b'.repeat(12), 'x'.repeat(513), 'é'.repeat(40)]) expect(() => resolveConfig({ adminToken: token }), token).toThrow(TypeError);
  });

  it('refuses a weak admin token, naming the rule (32 characters, 128 bits by classes × length)', () => {
    for (const weak of ['secret', 'vrt_e2e_platform_admin', '1'.repeat(31), '12345678901234567890123456789012345678']) {
      expect(() => resolveConfig({ adminToken: weak }), weak).toThrow(/at least 32 characters and 128 bits/);
    }
    // 39 digits: log2(10) × 39 ≈ 129.6 bits.
    expect(resolveConfig({ adminToken: '1'.repeat(39) }).adminToken).toBe('1'.repeat(39));
  });

  it('refuses a master key that is not 32 bytes of base64url, from any source (file, env or flag all meet here), without echoing it', () => {
    const key = Buffer.alloc(32, 9).toString('base64url');
    expect(resolveConfig({ masterKey: key }).masterKey).toBe(key);
    for (const bad of ['not-32-bytes', Buffer.alloc(31).toString('base64url'), Buffer.alloc(33).toString('base64url')]) {
      expect(() => resolveConfig({ masterKey: bad }), bad).toThrow(/masterKey \(VERITY_MASTER_KEY\) must be 32 bytes/);
      try {
        resolveConfig({ masterKey: bad });
      } catch (error) {
        expect((error as Error).message).not.toContain(bad);
      }
    }
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

  it('names workloads of tenants without a trust_domain setting verity.internal by default, and checks a chosen name', () => {
    expect(resolveConfig().trustDomain).toBe('verity.internal');
    expect(resolveConfig({ trustDomain: 'prod.example.com' }).trustDomain).toBe('prod.example.com');
    for (const trustDomain of ['', 'Prod.Example', 'spiffe://td', 'td:8080', 'a'.repeat(256)]) expect(() => resolveConfig({ trustDomain }), trustDomain).toThrow(/trustDomain/);
  });

  it('has no MaxMind database by default, resolves a given path, and refuses an empty one', () => {
    expect(resolveConfig().geoipDb).toBeNull();
    expect(resolveConfig({ geoipDb: '/data/city.mmdb' }).geoipDb).toBe('/data/city.mmdb');
    expect(resolveConfig({ geoipDb: 'city.mmdb' }).geoipDb).toBe(`${process.cwd()}/city.mmdb`);
    expect(() => resolveConfig({ geoipDb: '' })).toThrow(/geoipDb/);
  });

  it('gives receipts 30 s by default and takes 1 s to an hour', () => {
    expect(resolveConfig().receiptTtlSec).toBe(30);
    expect(resolveConfig({ receiptTtlSec: 1 }).receiptTtlSec).toBe(1);
    expect(resolveConfig({ receiptTtlSec: 3600 }).receiptTtlSec).toBe(3600);
    for (const receiptTtlSec of [0, -1, 3601, 2.5, Number.NaN]) expect(() => resolveConfig({ receiptTtlSec }), String(receiptTtlSec)).toThrow(/receiptTtlSec/);
  });

  it('bounds staleness, requests in flight and decision time by default, and refuses nonsense', () => {
    const config = resolveConfig();
    expect([config.maxStalenessMs, config.maxInflightRequests, config.requestTimeoutMs]).toEqual([1000, 256, 5000]);
    for (const maxStalenessMs of [0, 99, 1.5, 3_600_001]) expect(() => resolveConfig({ maxStalenessMs }), String(maxStalenessMs)).toThrow(/maxStalenessMs/);
    for (const maxInflightRequests of [0, -1, 2.5]) expect(() => resolveConfig({ maxInflightRequests }), String(maxInflightRequests)).toThrow(/maxInflightRequests/);
    for (const requestTimeoutMs of [0, 9, 2 ** 31]) expect(() => resolveConfig({ requestTimeoutMs }), String(requestTimeoutMs)).toThrow(/requestTimeoutMs/);
  });

  it('takes a public URL as an absolute http(s) origin with an optional path, without the trailing slash', () => {
    expect(resolveConfig({ publicUrl: 'https://pdp.example.com/' }).publicUrl).toBe('https://pdp.example.com');
    expect(resolveConfig({ publicUrl: 'https://example.com/verity' }).publicUrl).toBe('https://example.com/verity');
    for (const bad of ['pdp.example.com', 'ftp://x', 'https://x/?q=1', 'https://x/#f', 'https://user:pw@x', 'https://']) {
      expect(() => resolveConfig({ publicUrl: bad }), bad).toThrow(/publicUrl/);
    }
  });

  it('logs at info by default and takes only pino levels', () => {
    expect(resolveConfig().logLevel).toBe('info');
    expect(resolveConfig({ logLevel: 'debug' }).logLevel).toBe('debug');
    expect(() => resolveConfig({ logLevel: 'loud' as never })).toThrow(/logLevel/);
  });

  it('bounds PostgreSQL connects and queries at 5 s by default, from 100 ms', () => {
    expect(resolveConfig().storeTimeoutMs).toBe(5000);
    expect(resolveConfig({ storeTimeoutMs: 1500 }).storeTimeoutMs).toBe(1500);
    for (const bad of [0, 99, 1.5, 2 ** 31]) expect(() => resolveConfig({ storeTimeoutMs: bad })).toThrow(/storeTimeoutMs/);
  });

  it('trusts no proxy headers unless told to', () => {
    expect(resolveConfig().trustProxy).toBe(false);
    expect(resolveConfig({ trustProxy: true }).trustProxy).toBe(true);
  });

  it("keeps deleted tenants' audits by default; export is the one other choice", () => {
    expect(resolveConfig().tenantDeletionAudit).toBe('keep');
    expect(resolveConfig({ tenantDeletionAudit: 'export' }).tenantDeletionAudit).toBe('export');
    expect(() => resolveConfig({ tenantDeletionAudit: 'remove' as 'keep' })).toThrow(/tenantDeletionAudit/);
  });
});
