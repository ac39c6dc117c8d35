import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalDecider, type DecisionRecord } from '@verity/core';
import { sharedCedarEngine } from '@verity/core/cedar';
import type { PolicyBundle } from '@verity/identity';
import { createAuditShipper, type AuditShipper } from './audit-shipper.js';
import { createEnforcer } from './enforcer.js';
import { startFakePdp, until, type FakePdp } from './local-test-helpers.js';
import { createLocalDecisionSource, type LocalDecisionSource, type LocalDecisionSourceOptions } from './local-source.js';
import { createDecisionCache } from './decision-cache.js';
import { mintTestReceipt, testReceiptKey } from './receipt-test-helpers.js';
import type { DecisionRequest } from './types.js';

const IDP = 'http://127.0.0.1/idp';
const POLICIES = {
  'staff-read': 'permit(principal in Group::"staff", action == Action::"read", resource);',
  'senior-write': 'permit(principal, action == Action::"write", resource) when { principal has level && principal.level >= 5 };',
  scoped: 'permit(principal, action == Action::"list", resource) when { context has scopes && context.scopes.contains("docs:list") };',
  'service-ping': 'permit(principal is Svc, action == Action::"ping", resource);',
  'no-secrets': 'forbid(principal, action, resource == Doc::"secret");',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let idpKey: CryptoKey;
let bundle: PolicyBundle;
let pdp: FakePdp;
const sources: LocalDecisionSource[] = [];

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  idpKey = privateKey;
  bundle = {
    tenant: 'acme',
    version: 3,
    hash: 'b'.repeat(64),
    content: { validationMode: 'off', policies: POLICIES, templates: {}, links: [] },
    settings: { stsPrincipalType: 'Svc' },
    entities: [
      { uid: { type: 'User', id: 'ann' }, attrs: {}, parents: [{ type: 'Group', id: 'staff' }] },
      { uid: { type: 'User', id: 'bob' }, attrs: {}, parents: [] },
    ],
    identitySources: [
      {
        id: 'corp',
        issuer: IDP,
        keys: { kind: 'inline', keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] },
        audiences: ['api'],
        claims: { principalType: 'User', groupsClaim: 'groups', attributes: { level: 'lvl' }, context: { scopes: 'scope' } },
      },
    ],
    revocations: [{ kind: 'subject', tenant: 'acme', subject: 'mallory', issuedBefore: Math.floor(Date.now() / 1000) + 60 }],
  };
});

beforeEach(async () => {
  pdp = await startFakePdp(structuredClone(bundle));
});

afterEach(async () => {
  for (const source of sources.splice(0)) await source.close();
  await pdp.close();
});


function start(options: Partial<LocalDecisionSourceOptions> = {}): LocalDecisionSource {
  const source = createLocalDecisionSource({ url: pdp.url, tenant: 'acme', bundleKeyThumbprints: pdp.pinned, retryBackoff: { initialMs: 20, maxMs: 50 }, ...options });
  sources.push(source);
  return source;
}

function userToken(sub: string, claims: Record<string, unknown> = {}, audience = 'api'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(IDP).setAudience(audience).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(idpKey);
}

const ask = (overrides: Partial<DecisionRequest>): DecisionRequest => ({
  tenant: 'acme',
  action: 'read',
  resource: { type: 'Doc', id: 'd1' },
  context: {},
  requestId: 'req-1',
  tier: 'orders',
  ...overrides,
});

describe('createLocalDecisionSource', () => {
  it('decides subject-in requests as the core local decider does, with the bundle version and a fresh decision id', async () => {
    const source = start({ follow: false });
    await source.ready;
    expect(source.policyVersion).toBe(3);
    const reference = await createLocalDecider({ engine: sharedCedarEngine(), content: bundle.content, entities: bundle.entities, settings: bundle.settings });
    const cases: Array<[string, string, string]> = [
      ['ann', 'read', 'd1'],
      ['bob', 'read', 'd1'],
      ['ann', 'read', 'secret'],
      ['ann', 'write', 'd1'],
    ];
    const ids = new Set<string>();
    for (const [subject, action, resource] of cases) {
      const decision = await source.decide(ask({ subject: { type: 'User', id: subject }, action, resource: { type: 'Doc', id: resource } }));
      const expected = await reference.evaluate({ subject: { type: 'User', id: subject }, action: { name: action }, resource: { type: 'Doc', id: resource } });
      expect(decision).toEqual({ decision: expected.decision, decisionId: expect.stringMatching(UUID), policyVersion: 3, reasons: expected.reasons });
      ids.add(decision.decisionId as string);
    }
    expect(ids.size).toBe(cases.length);
    // Request-time properties overlay the stored entity, as at the PDP.
    expect((await source.decide(ask({ subject: { type: 'User', id: 'bob', properties: { level: 9 } }, action: 'write' }))).decision).toBe('allow');
  });

  it('verifies tokens in-process: the token principal overlays the stored entity, claims become attributes and context', async () => {
    const source = start({ follow: false });
    const decide = async (token: string, action: string) => source.decide(ask({ token, audience: 'api', action }));
    // Stored groups count (ann), and so do the token's (bob).
    expect((await decide(await userToken('ann'), 'read')).decision).toBe('allow');
    expect((await decide(await userToken('bob'), 'read')).decision).toBe('deny');
    expect((await decide(await userToken('bob', { groups: ['staff'] }), 'read')).decision).toBe('allow');
    expect((await decide(await userToken('bob', { lvl: 7 }), 'write')).decision).toBe('allow');
    expect((await decide(await userToken('bob', { scope: 'docs:list' }), 'list')).decision).toBe('allow');
    expect((await decide(await userToken('bob', { scope: 'docs:read' }), 'list')).decision).toBe('deny');
  });

  it('refuses bad, foreign and revoked tokens with the ERR_TOKEN_* code, as the remote source reports them', async () => {
    const source = start({ follow: false });
    const refused = (code: string) => ({ decision: 'deny', decisionId: null, policyVersion: null, reasons: ['unauthenticated'], code });
    expect(await source.decide(ask({ token: 'not.a.jwt', audience: 'api' }))).toEqual(refused('ERR_TOKEN_MALFORMED'));
    expect(await source.decide(ask({ token: await userToken('ann', {}, 'other'), audience: 'api' }))).toEqual(refused('ERR_TOKEN_AUDIENCE'));
    expect(await source.decide(ask({ token: await userToken('ann'), audience: 'billing' }))).toEqual(refused('ERR_TOKEN_AUDIENCE'));
    expect(await source.decide(ask({ token: await userToken('mallory', { groups: ['staff'] }), audience: 'api' }))).toEqual(refused('ERR_TOKEN_REVOKED'));
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(IDP).setAudience('api').setSubject('ann').setIssuedAt().setExpirationTime('5m').sign(privateKey);
    expect(await source.decide(ask({ token: forged, audience: 'api' }))).toEqual(refused('ERR_TOKEN_SIGNATURE'));
  });

  it("verifies the tenant token service's own tokens against the PDP's JWKS, as the tenant's STS principal type", async () => {
    const source = start({ follow: false });
    const key = await pdp.ring.current();
    const sts = (audience: string) =>
      new SignJWT({ scope: 'x' }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' }).setIssuer(pdp.issuer).setAudience(audience).setSubject('billing-job').setIssuedAt().setExpirationTime('5m').sign(key.key);
    expect(await source.decide(ask({ token: await sts('api'), audience: 'api', action: 'ping' }))).toMatchObject({ decision: 'allow', reasons: ['service-ping'] });
    expect((await source.decide(ask({ token: await sts('elsewhere'), audience: 'api', action: 'ping' }))).code).toBe('ERR_TOKEN_AUDIENCE');
  });

  it('reloads the bundle on a change from the stream: policies and revocations reach decisions within a second', async () => {
    const source = start();
    await source.ready;
    const token = await userToken('ann');
    const annRead = async () => (await source.decide(ask({ token, audience: 'api' }))).decision;
    expect(await annRead()).toBe('allow');
    pdp.bundle = { ...pdp.bundle, version: 4, content: { ...pdp.bundle.content, policies: { ...pdp.bundle.content.policies, lockdown: 'forbid(principal, action, resource);' } } };
    pdp.publish('policy');
    expect(await until(async () => (await annRead()) === 'deny', 1000)).toBe(true);
    expect(source.policyVersion).toBe(4);
    const token2 = await userToken('bob', { groups: ['staff'] });
    pdp.bundle = { ...bundle, version: 5 };
    pdp.publish('policy');
    expect(await until(async () => (await source.decide(ask({ token: token2, audience: 'api' }))).decision === 'allow', 1000)).toBe(true);
    pdp.bundle = { ...pdp.bundle, revocations: [...bundle.revocations, { kind: 'subject', tenant: 'acme', subject: 'bob', issuedBefore: Math.floor(Date.now() / 1000) + 1 }] };
    pdp.publish('revocation');
    expect(await until(async () => (await source.decide(ask({ token: token2, audience: 'api' }))).code === 'ERR_TOKEN_REVOKED', 1000)).toBe(true);
  });

  it('reloads the bundle when the stream reconnects (changes may have been missed)', async () => {
    const source = start();
    await source.ready;
    await until(() => pdp.paths.filter((p) => p.endsWith('/changes')).length === 1);
    pdp.bundle = { ...pdp.bundle, version: 9 };
    pdp.dropStreams();
    expect(await until(() => source.policyVersion === 9)).toBe(true);
  });

  it('fails closed without a bundle (PDP down or bundle unverifiable), and recovers when one verifies', async () => {
    pdp.mode = 'down';
    const errors: unknown[] = [];
    const source = start({ follow: false, onError: (error) => errors.push(error) });
    await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_FAILED', pdpStatus: 503 });
    const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'orders' });
    expect(await enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).toMatchObject({ allowed: false, status: 503 });
    pdp.mode = 'tamper';
    expect(await until(() => pdp.paths.filter((p) => p.endsWith('/bundle')).length >= 3)).toBe(true);
    await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect((await enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).status).toBe(503);
    expect(errors.length).toBeGreaterThan(1);
    // The retry picks the bundle up by itself once it verifies.
    pdp.mode = 'up';
    expect(await until(() => source.policyVersion === 3)).toBe(true);
    expect((await enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).status).toBe(200);
    // An altered bundle later on never replaces the good one.
    pdp.mode = 'tamper';
    await expect(source.refresh()).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_RESPONSE' });
    expect((await source.decide(ask({ subject: { type: 'User', id: 'bob' } }))).decision).toBe('deny');
  });

  it('fails closed once the bundle has expired and no new one can be had', async () => {
    let clock = Date.now();
    // The bundle is signed on the test's clock too: signed on the real one, a second boundary
    // crossed between reading `clock` and signing put its expiry a second later (a flake under load).
    pdp.signNow = () => clock;
    // A contact-loss bound past the bundle's life: the bundle's expiry is what stops it here.
    const source = start({ follow: false, now: () => clock, maxContactLossMs: 3_600_000 });
    await source.ready;
    const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'orders' });
    const annReads = () => enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } });
    expect((await annReads()).status).toBe(200);
    pdp.mode = 'down';
    clock += 599_000;
    expect((await annReads()).status).toBe(200);
    // Bundles last 10 minutes: past that, nothing is decided on it.
    clock += 1_000;
    await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_EXPIRED' });
    expect(await annReads()).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_BUNDLE_EXPIRED' } });
    // A new bundle, once it can be had, is picked up by the retry.
    pdp.mode = 'up';
    pdp.signNow = () => clock;
    expect(await until(async () => (await annReads()).status === 200)).toBe(true);
  });

  describe('bounded staleness: maxContactLossMs of lost contact with the PDP (default 30 s)', () => {
    it('fails closed past the bound while the PDP is unreachable, and decides again once a bundle load gets through', async () => {
      let clock = Date.now();
      const source = start({ follow: false, now: () => clock });
      await source.ready;
      const enforcer = createEnforcer({ anyAudience: true, source, tenant: 'acme', tier: 'orders' });
      const annReads = () => enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } });
      pdp.mode = 'down';
      clock += 30_000;
      expect((await annReads()).status).toBe(200);
      clock += 1;
      expect(source.contactAgeMs).toBe(30_001);
      expect(await annReads()).toMatchObject({ allowed: false, status: 503, error: { code: 'ERR_ENFORCE_PDP_CONTACT_LOST' } });
      // The bundle itself is still valid for minutes: it is the lost contact that stops it.
      expect(source.policyVersion).toBe(3);
      pdp.mode = 'up';
      expect(await until(async () => (await annReads()).status === 200)).toBe(true);
      expect(source.contactAgeMs).toBeLessThan(1000);
    });

    it("the change stream's heartbeat keeps contact without reloading the bundle; a silent stream loses it", async () => {
      let clock = Date.now();
      const source = start({ now: () => clock, maxContactLossMs: 20_000 });
      await source.ready;
      expect(await until(() => pdp.paths.some((p) => p.endsWith('/changes')))).toBe(true);
      const bundleLoads = () => pdp.paths.filter((p) => p.endsWith('/bundle')).length;
      expect(await until(() => source.contactAgeMs === 0 && bundleLoads() >= 2)).toBe(true);
      const loadsBefore = bundleLoads();
      for (let beat = 0; beat < 3; beat++) {
        clock += 15_000;
        pdp.heartbeat();
        expect(await until(() => source.contactAgeMs === 0)).toBe(true);
        expect((await source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).decision).toBe('allow');
      }
      expect(bundleLoads()).toBe(loadsBefore);
      // A stream that stays open but says nothing (a paused network) is no contact.
      clock += 20_001;
      await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_CONTACT_LOST' });
      pdp.heartbeat();
      expect(await until(async () => (await source.decide(ask({ subject: { type: 'User', id: 'ann' } })).catch(() => null))?.decision === 'allow')).toBe(true);
    });
  });

  it('renews a short-lived bundle before it expires, without a change or the interval', async () => {
    pdp.ttlSec = 2;
    const source = start({ follow: false });
    await source.ready;
    const firstExpiry = (Math.floor(Date.now() / 1000) + 2) * 1000;
    // Past the first bundle's expiry, decisions still come from a renewed one.
    expect(await until(() => Date.now() > firstExpiry + 200, 4000)).toBe(true);
    expect((await source.decide(ask({ subject: { type: 'User', id: 'ann' } }))).decision).toBe('allow');
    expect(pdp.paths.filter((p) => p.endsWith('/bundle')).length).toBeGreaterThanOrEqual(2);
  });

  it('passes the pinning and the state on: an unpinned key or a replay after a restart decides nothing', async () => {
    const saved: unknown[] = [];
    const bundleState = { load: async () => saved.at(-1) as never, save: async (state: unknown) => void saved.push(state) };
    const first = start({ follow: false, bundleState });
    await first.ready;
    expect(first.policyVersion).toBe(3);
    await first.close();
    pdp.signNow = () => Date.now() - 120_000;
    const restarted = start({ follow: false, bundleState });
    await expect(restarted.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_REPLAYED' });
    const unpinned = start({ follow: false, bundleKeyThumbprints: ['A'.repeat(43)] });
    await expect(unpinned.decide(ask({ subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_BUNDLE_KEY' });
  });

  it('ships every decision to the audit with tier, request id and the principal the token proved', async () => {
    const shipped: DecisionRecord[] = [];
    const ship = (record: DecisionRecord) => (shipped.push(record), true);
    const shipper: AuditShipper = { tenant: 'acme', ready: Promise.resolve(), append: async (record) => void ship(record), ship, flush: async () => undefined, close: async () => undefined, stats: () => ({ pending: 0, delivered: 0, dropped: 0, failedAttempts: 0 }) };
    const source = start({ follow: false, shipper });
    const decision = await source.decide(ask({ token: await userToken('bob', { groups: ['staff'] }), audience: 'api', requestId: 'req-42', tier: 'orders' }));
    await source.decide(ask({ subject: { type: 'User', id: 'bob' }, requestId: 'bad id with spaces', tier: 'orders' }));
    await source.decide(ask({ token: 'not.a.jwt' }));
    expect(shipped).toHaveLength(2);
    expect(shipped[0]).toEqual({
      decisionId: decision.decisionId,
      time: expect.any(String),
      tenant: 'acme',
      requestId: 'req-42',
      tier: 'orders',
      principal: { type: 'User', id: 'bob' },
      action: { type: 'Action', id: 'read' },
      resource: { type: 'Doc', id: 'd1' },
      decision: 'allow',
      reasons: ['staff-read'],
      errors: [],
      policyVersion: 3,
      latencyUs: expect.any(Number),
      input: expect.any(String),
    });
    // What it was decided on, for replay: the principal as the token proved it (its groups).
    expect(JSON.parse(shipped[0]!.input!).overlays).toEqual([{ uid: { type: 'User', id: 'bob' }, attrs: expect.any(Object), parents: [{ type: 'Group', id: 'staff' }] }]);
    expect(shipped[1]).toMatchObject({ requestId: null, decision: 'deny' });
  });

  it('answers a decision only once its record is in the spool: a spool that cannot be written fails it closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-spool-'));
    try {
      const good = createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: join(dir, 'spool'), flushMs: 5 });
      const source = start({ follow: false, shipper: good });
      const decision = await source.decide(ask({ subject: { type: 'User', id: 'ann' } }));
      await good.flush();
      expect(pdp.audited.map((r) => r.decisionId)).toEqual([decision.decisionId]);
      await good.close();

      await writeFile(join(dir, 'file'), '');
      const broken = createAuditShipper({ url: pdp.url, tenant: 'acme', spoolDir: join(dir, 'file', 'spool') });
      const refusing = start({ follow: false, shipper: broken });
      const enforcer = createEnforcer({ anyAudience: true, source: refusing, tenant: 'acme', tier: 'orders' });
      expect(await enforcer.enforce({ subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } })).toMatchObject({
        allowed: false,
        status: 503,
        error: { code: 'ERR_ENFORCE_AUDIT_SPOOL' },
      });
      await broken.close({ timeoutMs: 10 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('data-tier receipts: asked of the PDP, which alone mints them', () => {
    const key = testReceiptKey();
    /** The PDP's evaluation endpoint: allow with a receipt when asked (`missing`: 409, no receipt key). */
    function pdpEvaluates(state: { missing: boolean } = { missing: false }) {
      let n = 0;
      pdp.evaluate = async (body) => {
        const request = body as { subject: { id: string }; action: { name: string }; resource: { type: string; id: string }; options?: { verity_receipt?: boolean } };
        if (state.missing) return { status: 409, body: { code: 'ERR_RECEIPT_KEY_MISSING', message: 'no active receipt key' } };
        const id = `pdp-${++n}`;
        const claims = { tenant: 'acme', principal: `User::"${request.subject.id}"`, action: request.action.name, resource_type: request.resource.type, resource_id: request.resource.id, decision_id: id, policy_version: 3 };
        const receipt = request.options?.verity_receipt === true ? { verity_receipt: await mintTestReceipt(key, claims, { ttlSec: 30, nowMs: Date.now(), issuer: pdp.issuer }) } : {};
        return { status: 200, body: { decision: true, context: { id, reason_admin: { policy_version: 3, determining_policies: ['staff-read'], errors: [] }, ...receipt } } };
      };
      return state;
    }
    const shipping = () => {
      const shipped: DecisionRecord[] = [];
      const ship = (record: DecisionRecord) => (shipped.push(record), true);
      const shipper: AuditShipper = { tenant: 'acme', ready: Promise.resolve(), append: async (record) => void ship(record), ship, flush: async () => undefined, close: async () => undefined, stats: () => ({ pending: 0, delivered: 0, dropped: 0, failedAttempts: 0 }) };
      return { shipped, shipper };
    };

    it('decides in-process when no receipt is needed, and asks the PDP (with its credential) when one is', async () => {
      pdpEvaluates();
      const { shipped, shipper } = shipping();
      const source = start({ follow: false, credential: 'vrt_local', shipper });
      await source.ready;
      const local = await source.decide(ask({ subject: { type: 'User', id: 'ann' } }));
      expect(local).toMatchObject({ decision: 'allow', decisionId: expect.stringMatching(UUID), policyVersion: 3 });
      expect(local).not.toHaveProperty('receipt');
      expect(pdp.evaluations).toHaveLength(0);
      expect(shipped).toHaveLength(1);

      const remote = await source.decide(ask({ subject: { type: 'User', id: 'ann' }, receipt: true }));
      expect(pdp.evaluations).toEqual([
        { body: { subject: { type: 'User', id: 'ann' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd1' }, context: {}, options: { verity_receipt: true } }, authorization: 'Bearer vrt_local' },
      ]);
      expect(remote).toMatchObject({ decision: 'allow', decisionId: 'pdp-1', policyVersion: 3, reasons: ['staff-read'], receipt: expect.any(String), receiptExpiresAt: expect.any(Number) });
      // The PDP audited its own decision: nothing shipped for it.
      expect(shipped).toHaveLength(1);
    });

    it('through an enforcer and its cache: the receipt is reused while valid, the PDP asked once', async () => {
      pdpEvaluates();
      const source = start({ follow: false });
      const enforcer = createEnforcer({ anyAudience: true, source, cache: createDecisionCache(), receipts: true, tenant: 'acme', tier: 'orders' });
      const input = { subject: { type: 'User', id: 'ann' }, action: 'read', resource: { type: 'Doc', id: 'd1' } };
      const first = await enforcer.enforce(input);
      const second = await enforcer.enforce(input);
      expect(first).toMatchObject({ allowed: true, identity: { decisionId: 'pdp-1', receipt: expect.any(String) } });
      expect(second.receipt).toBe(first.receipt);
      expect(pdp.evaluations).toHaveLength(1);
    });

    it('fails closed when the PDP has no receipt key for the tenant (409), rather than deciding locally without one', async () => {
      pdpEvaluates({ missing: true });
      const source = start({ follow: false });
      await source.ready;
      await expect(source.decide(ask({ subject: { type: 'User', id: 'ann' }, receipt: true }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_RECEIPT_UNAVAILABLE', pdpStatus: 409, pdpCode: 'ERR_RECEIPT_KEY_MISSING' });
      expect(pdp.evaluations).toHaveLength(1);
    });
  });

  it('refuses requests it cannot decide: another tenant, no principal', async () => {
    const source = start({ follow: false });
    await expect(source.decide(ask({ tenant: 'globex', subject: { type: 'User', id: 'ann' } }))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED' });
    await expect(source.decide(ask({}))).rejects.toMatchObject({ code: 'ERR_ENFORCE_PDP_REFUSED', pdpCode: 'ERR_DECISION_INVALID_REQUEST' });
  });

  it('refuses bad options at construction', () => {
    const base = { url: pdp.url, tenant: 'acme', bundleKeyThumbprints: pdp.pinned };
    expect(() => createLocalDecisionSource({ ...base, follow: 'yes' as never })).toThrow(TypeError);
    expect(() => createLocalDecisionSource({ ...base, shipper: {} as never })).toThrow(TypeError);
    expect(() => createLocalDecisionSource({ ...base, shipper: createAuditShipper({ url: pdp.url, tenant: 'globex', spoolDir: null }) })).toThrow(/another tenant/);
    expect(() => createLocalDecisionSource({ ...base, refreshIntervalMs: -1 })).toThrow(TypeError);
    expect(() => createLocalDecisionSource({ ...base, maxContactLossMs: 0 })).toThrow(TypeError);
    expect(() => createLocalDecisionSource({ ...base, mode: 'local' } as never)).toThrow(/unknown option "mode"/);
    expect(() => createLocalDecisionSource({ url: pdp.url, tenant: 'acme' })).toThrow(/bundleKeys or bundleKeyThumbprints/);
  });
});
