import { describe, expect, it, vi } from 'vitest';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { createTokenIssuer, type ActorClaim } from './token-issuer.js';
import { exchangeToken, issueForClient, MAX_ACTOR_CHAIN, TOKEN_TYPE_ACCESS_TOKEN, type ExchangeAuthorizationRequest, type ExchangeTokenOptions } from './token-exchange.js';
import type { StsClient, VerifiedToken } from './types.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW = T0 / 1000;
const ISSUER = 'https://sts.example.com/t/acme';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

const keyRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0 });
const issuer = createTokenIssuer({ issuer: ISSUER, keyRing, now: () => T0 });

function client(id: string, overrides: Partial<StsClient> = {}): StsClient {
  return {
    id, tenant: 'acme', principal: { type: 'Service', id }, secretHash: null, jwks: null, audiences: ['https://svc2.example.com', 'https://svc3.example.com', ISSUER],
    subjectAudiences: [`https://${id}.example.com`], scopes: ['orders:read', 'orders:write', 'audit:read'], ...overrides,
  };
}

/** What the token verifier would produce for a token; enough for the exchange. Its audience is svc1's. */
function verified(subject: string, scopes: string[], overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    sourceId: 'idp', issuer: 'https://idp.example.com', subject, tokenId: 'jti-1', issuedAt: NOW - 10, clockToleranceSec: 30, expiresAt: NOW + 3600, clientId: 'web',
    scopes, actors: [], principal: { uid: { type: 'User', id: subject }, attrs: {}, parents: [] }, parents: [], context: {}, claims: { sub: subject, aud: 'https://svc1.example.com' }, ...overrides,
  };
}

/** Verifies one of our tokens and maps it the way the verifier does (act chain → actors, outermost first). */
async function verifyOurs(token: string, audience: string): Promise<{ payload: JWTPayload; asSubject: VerifiedToken }> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(await keyRing.jwks()), { issuer: ISSUER, audience, typ: 'at+jwt', currentDate: new Date(T0) });
  const actors: string[] = [];
  for (let act = payload['act'] as ActorClaim | undefined; act !== undefined; act = act.act) actors.push(act.sub);
  const asSubject = verified(payload.sub!, String(payload['scope']).split(' '), { issuer: ISSUER, expiresAt: payload.exp!, actors, claims: payload as Record<string, unknown> });
  return { payload, asSubject };
}

const form = (extra: Record<string, string> = {}) => ({
  grant_type: GRANT,
  subject_token: 'opaque-to-this-module',
  subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
  audience: 'https://svc2.example.com',
  ...extra,
});

function exchange(overrides: Partial<ExchangeTokenOptions> = {}) {
  return exchangeToken({ form: form(), client: client('svc1'), verifiedSubject: verified('alice', ['orders:read', 'orders:write']), issuer, authorize: async () => true, ...overrides });
}

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'resolved', (e: { code?: string; name: string }) => e.code ?? e.name);
}

describe('exchangeToken', () => {
  it('narrows scope and records the client as actor', async () => {
    const authorize = vi.fn(async (_: ExchangeAuthorizationRequest) => true);
    const response = await exchange({ form: form({ scope: 'orders:read' }), authorize });
    expect(response).toEqual({ access_token: expect.any(String), issued_token_type: TOKEN_TYPE_ACCESS_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'orders:read' });
    const { payload } = await verifyOurs(response.access_token, 'https://svc2.example.com');
    expect(payload).toMatchObject({ sub: 'alice', aud: 'https://svc2.example.com', scope: 'orders:read', client_id: 'svc1', act: { sub: 'svc1' }, exp: NOW + 300 });
    expect(payload['act']).toEqual({ sub: 'svc1' });
    expect(authorize).toHaveBeenCalledWith({
      principal: { type: 'Service', id: 'svc1' },
      action: 'exchange',
      resource: { audience: 'https://svc2.example.com' },
      context: { subject: 'alice', scopes: ['orders:read'], actors: ['svc1'] },
    });
  });

  it('keeps the login (RFC 9068 §2.2.1 auth_time, acr, amr) and the claims it is told to carry, never a registered one', async () => {
    const claims = { sub: 'alice', aud: 'https://svc1.example.com', auth_time: NOW - 600, acr: 'urn:example:mfa', amr: ['pwd', 'otp'], device_id: 'laptop-1', may_act: { sub: 'svc1' }, job: 'not-carried', other: 'x' };
    const subject = verified('alice', ['orders:read'], { claims });
    const carried = await exchange({ verifiedSubject: subject, carryClaims: ['device_id', 'iss', 'sub', 'may_act', 'scope', 'job', 'missing'] });
    const { payload } = await verifyOurs(carried.access_token, 'https://svc2.example.com');
    expect(payload).toMatchObject({ sub: 'alice', iss: ISSUER, scope: 'orders:read', auth_time: NOW - 600, acr: 'urn:example:mfa', amr: ['pwd', 'otp'], device_id: 'laptop-1' });
    expect(payload).not.toHaveProperty('may_act');
    expect(payload).not.toHaveProperty('job');
    expect(payload).not.toHaveProperty('other');
    expect(payload).not.toHaveProperty('missing');
    // Without carryClaims: the login only.
    const plain = await verifyOurs((await exchange({ verifiedSubject: subject })).access_token, 'https://svc2.example.com');
    expect(plain.payload).toMatchObject({ auth_time: NOW - 600, acr: 'urn:example:mfa' });
    expect(plain.payload).not.toHaveProperty('device_id');
  });

  it('grants the intersection of subject and client scopes when none is requested', async () => {
    const response = await exchange({ verifiedSubject: verified('alice', ['orders:read', 'profile', 'audit:read']) });
    expect(response.scope).toBe('orders:read audit:read');
  });

  it('never widens scope', async () => {
    // Held by the client but not the subject, and by the subject but not the client.
    expect(await code(exchange({ form: form({ scope: 'orders:read audit:read' }) }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(exchange({ verifiedSubject: verified('alice', ['orders:read', 'admin']), form: form({ scope: 'admin' }) }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(exchange({ verifiedSubject: verified('alice', ['profile']) }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(exchange({ form: form({ scope: 'orders:read  orders:write' }) }))).toBe('ERR_STS_INVALID_SCOPE');
  });

  it('caps exp at the subject token exp', async () => {
    const response = await exchange({ verifiedSubject: verified('alice', ['orders:read'], { expiresAt: NOW + 42 }) });
    expect(response.expires_in).toBe(42);
    const { payload } = await verifyOurs(response.access_token, 'https://svc2.example.com');
    expect(payload.exp).toBe(NOW + 42);
    expect(await code(exchange({ verifiedSubject: verified('alice', ['orders:read'], { expiresAt: NOW - 5 }) }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
  });

  it('nests the act chain for A → svc1 → svc2', async () => {
    const first = await exchange();
    const { asSubject } = await verifyOurs(first.access_token, 'https://svc2.example.com');
    const authorize = vi.fn(async (_: ExchangeAuthorizationRequest) => true);
    const second = await exchangeToken({ form: form({ audience: 'https://svc3.example.com', scope: 'orders:read' }), client: client('svc2'), verifiedSubject: asSubject, issuer, authorize });
    // svc1's token was for svc2 only: svc3 may not exchange it.
    expect(await code(exchangeToken({ form: form({ audience: 'https://svc2.example.com' }), client: client('svc3'), verifiedSubject: asSubject, issuer, authorize }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    const { payload } = await verifyOurs(second.access_token, 'https://svc3.example.com');
    expect(payload['act']).toEqual({ sub: 'svc2', act: { sub: 'svc1' } });
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'svc2', scope: 'orders:read' });
    expect(authorize.mock.calls[0]![0].context.actors).toEqual(['svc2', 'svc1']);
    // The second token cannot outlive the first.
    expect(payload.exp).toBeLessThanOrEqual(asSubject.expiresAt);
  });

  describe('actor token', () => {
    const withActor = form({ actor_token: 'x', actor_token_type: TOKEN_TYPE_ACCESS_TOKEN });
    /** svc1's own client-credentials token for the token service, as the verifier maps it. */
    const ownToken = (overrides: Partial<VerifiedToken> = {}, claims: Record<string, unknown> = {}) =>
      verified('svc1', ['orders:read'], { issuer: ISSUER, tokenId: 'jti-actor', clientId: 'svc1', principal: { uid: { type: 'Service', id: 'svc1' }, attrs: {}, parents: [] }, claims: { sub: 'svc1', aud: ISSUER, client_id: 'svc1', ...claims }, ...overrides });

    it("is accepted when it is the client's own client-credentials token for the token service", async () => {
      const response = await exchange({ form: withActor, verifiedActor: ownToken() });
      const { payload } = await verifyOurs(response.access_token, 'https://svc2.example.com');
      expect(payload['act']).toEqual({ sub: 'svc1' });
    });

    it("is refused when it is another client's token, another subject, the subject token, exchanged, foreign, or for another audience", async () => {
      const billing = ownToken({ subject: 'billing', clientId: 'billing', principal: { uid: { type: 'Service', id: 'billing' }, attrs: {}, parents: [] } }, { sub: 'billing', client_id: 'billing' });
      const bad: VerifiedToken[] = [
        billing,
        ownToken({ clientId: 'billing' }),
        ownToken({ subject: 'robot-7', principal: { uid: { type: 'Service', id: 'robot-7' }, attrs: {}, parents: [] } }),
        verified('alice', ['orders:read', 'orders:write']),
        ownToken({ actors: ['svc0'] }),
        ownToken({ issuer: 'https://idp.example.com' }),
        ownToken({}, { aud: 'https://svc2.example.com' }),
      ];
      for (const verifiedActor of bad) expect(await code(exchange({ form: withActor, verifiedActor }))).toBe('ERR_STS_INVALID_ACTOR_TOKEN');
      // The subject token itself (here the client's own token, exchanged for itself) is no actor token.
      expect(await code(exchange({ form: withActor, verifiedSubject: ownToken(), verifiedActor: ownToken() }))).toBe('ERR_STS_INVALID_ACTOR_TOKEN');
      expect(await code(exchange({ verifiedSubject: ownToken() }))).toBe('resolved');
    });

    it('leaves may_act to be checked against the authenticated client', async () => {
      const mayAct = (sub: string) => verified('alice', ['orders:read'], { claims: { sub: 'alice', aud: 'https://svc1.example.com', may_act: { sub } } });
      expect(await code(exchange({ form: withActor, verifiedActor: ownToken(), verifiedSubject: mayAct('svc1') }))).toBe('resolved');
      expect(await code(exchange({ form: withActor, verifiedActor: ownToken(), verifiedSubject: mayAct('billing') }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    });
  });

  it('honours may_act (RFC 8693 §4.4) against the client and bounds the chain length, as invalid_request', async () => {
    const mayAct = (value: unknown) => verified('alice', ['orders:read'], { claims: { sub: 'alice', aud: 'https://svc1.example.com', may_act: value } });
    expect(await code(exchange({ verifiedSubject: mayAct({ sub: 'svc9' }) }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    expect(await code(exchange({ verifiedSubject: mayAct('svc1') }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    expect(await code(exchange({ verifiedSubject: mayAct({ sub: 'svc1' }) }))).toBe('resolved');
    const chain = (length: number) => verified('alice', ['orders:read'], { actors: Array.from({ length }, (_, i) => `s${i}`) });
    expect(await code(exchange({ verifiedSubject: chain(MAX_ACTOR_CHAIN - 1) }))).toBe('resolved');
    expect(await code(exchange({ verifiedSubject: chain(MAX_ACTOR_CHAIN) }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
  });

  it('accepts a subject token issued for the client (its id, its subject audiences) or the token service, nothing else', async () => {
    const forAudience = (aud: unknown) => verified('alice', ['orders:read'], { claims: { sub: 'alice', aud } });
    for (const aud of ['https://svc1.example.com', 'svc1', ISSUER, ['https://other.example.com', 'svc1']]) {
      expect(await code(exchange({ verifiedSubject: forAudience(aud) }))).toBe('resolved');
    }
    for (const aud of ['https://svc2.example.com', ['https://other.example.com'], undefined]) {
      expect(await code(exchange({ verifiedSubject: forAudience(aud) }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    }
  });

  it('names the principal the subject token was mapped to, not its raw sub', async () => {
    const authorize = vi.fn(async (_: ExchangeAuthorizationRequest) => true);
    const mapped = verified('u-123', ['orders:read'], { principal: { uid: { type: 'User', id: 'alice@example.com' }, attrs: {}, parents: [] } });
    const response = await exchange({ verifiedSubject: mapped, authorize });
    const { payload } = await verifyOurs(response.access_token, 'https://svc2.example.com');
    expect(payload.sub).toBe('alice@example.com');
    expect(authorize.mock.calls[0]![0].context.subject).toBe('alice@example.com');
  });

  it('rejects an audience the client may not target', async () => {
    expect(await code(exchange({ form: form({ audience: 'https://payroll.example.com' }) }))).toBe('ERR_STS_INVALID_TARGET');
    const { audience: _, ...withoutAudience } = form();
    expect(await code(exchange({ form: { ...withoutAudience, resource: 'https://payroll.example.com/' } }))).toBe('ERR_STS_INVALID_TARGET');
    expect(await code(exchange({ form: { ...withoutAudience, resource: 'https://svc2.example.com' }, client: client('svc1', { audiences: ['https://svc2.example.com'] }) }))).toBe('resolved');
  });

  it('rejects when the exchange decision denies, and propagates a failing decision', async () => {
    expect(await code(exchange({ authorize: async () => false }))).toBe('ERR_STS_EXCHANGE_DENIED');
    await expect(exchange({ authorize: async () => Promise.reject(new Error('engine down')) })).rejects.toThrow('engine down');
  });

  it('rejects missing or invalid parameters with ERR_STS_INVALID_REQUEST', async () => {
    const { audience: _a, ...noTarget } = form();
    const { grant_type: _g, ...noGrant } = form();
    const { subject_token: _s, ...noSubject } = form();
    const { subject_token_type: _t, ...noSubjectType } = form();
    const bad: Array<ExchangeTokenOptions['form']> = [
      noGrant,
      noSubject,
      noSubjectType,
      form({ subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }),
      noTarget,
      form({ resource: 'https://svc2.example.com' }),
      { ...form(), audience: ['https://svc2.example.com', 'https://svc3.example.com'] },
      new URLSearchParams([...Object.entries(form()), ['scope', 'orders:read'], ['scope', 'orders:write']]),
      form({ actor_token: 'x' }),
      form({ actor_token_type: TOKEN_TYPE_ACCESS_TOKEN }),
      form({ requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
    ];
    for (const f of bad) expect(await code(exchange({ form: f }))).toBe('ERR_STS_INVALID_REQUEST');
    expect(await code(exchange({ form: form({ grant_type: 'password' }) }))).toBe('ERR_STS_UNSUPPORTED_GRANT_TYPE');
    // A caller that forgot to verify the actor token is a programming error, not a client one.
    expect(await code(exchange({ form: form({ actor_token: 'x', actor_token_type: TOKEN_TYPE_ACCESS_TOKEN }) }))).toBe('TypeError');
  });
});

describe('issueForClient', () => {
  it('issues a client_credentials token for the client principal', async () => {
    const response = await issueForClient({ client: client('svc1'), issuer, scope: 'orders:read', audience: 'https://svc3.example.com' });
    const { payload } = await verifyOurs(response.access_token, 'https://svc3.example.com');
    expect(payload).toMatchObject({ sub: 'svc1', client_id: 'svc1', scope: 'orders:read' });
    expect(payload).not.toHaveProperty('act');
  });

  it('defaults to all client scopes and its only audience', async () => {
    const response = await issueForClient({ client: client('svc1', { audiences: ['https://svc2.example.com'] }), issuer });
    expect(response.scope).toBe('orders:read orders:write audit:read');
    const { payload } = await verifyOurs(response.access_token, 'https://svc2.example.com');
    expect(payload.aud).toBe('https://svc2.example.com');
  });

  it('rejects scopes and audiences outside the client registration', async () => {
    expect(await code(issueForClient({ client: client('svc1'), issuer, scope: 'admin', audience: 'https://svc2.example.com' }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(issueForClient({ client: client('svc1'), issuer, audience: 'https://payroll.example.com' }))).toBe('ERR_STS_INVALID_TARGET');
    expect(await code(issueForClient({ client: client('svc1'), issuer }))).toBe('ERR_STS_INVALID_REQUEST');
  });
});
