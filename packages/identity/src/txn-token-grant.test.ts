import { describe, expect, it, vi } from 'vitest';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { TOKEN_TYPE_ACCESS_TOKEN } from './token-exchange.js';
import { issueTxnToken, MAX_TXN_CALL_CHAIN, TOKEN_TYPE_TXN_TOKEN, verifyTxnToken, type VerifiedTxnToken } from './txn-token.js';
import { isTxnTokenRequest, issueTxnTokenForRequest, parseTxnTokenRequest, type IssueTxnTokenForRequestOptions, type TxnTokenAuthorizationRequest } from './txn-token-grant.js';
import type { VerifiedToken } from './types.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW = T0 / 1000;
const ISSUER = 'https://pdp.example.com/tenants/acme';
const TD = 'acme.internal';
const GATEWAY = 'spiffe://acme.internal/gateway';
const ORDERS = 'spiffe://acme.internal/orders';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

const keyRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0 });

function userToken(scopes: string[], overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    sourceId: 'idp', issuer: 'https://idp.example.com', subject: 'raw-sub', tokenId: 'jti-1', issuedAt: NOW - 10, clockToleranceSec: 30, expiresAt: NOW + 3600, clientId: 'web',
    scopes, actors: [], principal: { uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [] }, parents: [], context: {}, claims: {}, ...overrides,
  };
}

const form = (extra: Record<string, string | undefined> = {}) =>
  Object.fromEntries(
    Object.entries({ grant_type: GRANT, requested_token_type: TOKEN_TYPE_TXN_TOKEN, audience: TD, subject_token: 'opaque-here', subject_token_type: TOKEN_TYPE_ACCESS_TOKEN, ...extra }).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  );

async function issue(extra: Record<string, string | undefined> = {}, overrides: Partial<IssueTxnTokenForRequestOptions> = {}) {
  return issueTxnTokenForRequest({
    request: parseTxnTokenRequest(form(extra), TD),
    requester: GATEWAY,
    subject: { token: userToken(['orders:read', 'orders:write']) },
    keyRing, issuer: ISSUER, trustDomain: TD, authorize: async () => true, now: () => T0,
    ...overrides,
  });
}

const verify = async (token: string) => verifyTxnToken(token, { keys: await keyRing.jwks(), issuer: ISSUER, trustDomain: TD, now: () => T0 });

/** A Txn-Token as the server would have verified it before asking for its replacement. */
async function replace(old: VerifiedTxnToken, extra: Record<string, string | undefined> = {}, requester = ORDERS) {
  return issueTxnTokenForRequest({
    request: parseTxnTokenRequest(form({ subject_token_type: TOKEN_TYPE_TXN_TOKEN, ...extra }), TD),
    requester, subject: { txnToken: old }, keyRing, issuer: ISSUER, trustDomain: TD, authorize: async () => true, now: () => T0,
  });
}

async function code(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
    return 'resolved';
  } catch (error) {
    return (error as { code?: string; name: string }).code ?? (error as Error).name;
  }
}

describe('Txn-Token requests', () => {
  it('recognizes a Txn-Token request by its requested_token_type', () => {
    expect(isTxnTokenRequest(form())).toBe(true);
    expect(isTxnTokenRequest(form({ requested_token_type: TOKEN_TYPE_ACCESS_TOKEN }))).toBe(false);
    expect(isTxnTokenRequest(new URLSearchParams([['grant_type', GRANT], ['requested_token_type', TOKEN_TYPE_TXN_TOKEN], ['requested_token_type', 'x']]))).toBe(false);
  });

  it('issues for the subject token\'s principal, narrowed, with the request\'s context', async () => {
    const authorize = vi.fn(async (_: TxnTokenAuthorizationRequest) => true);
    const response = await issue({ scope: 'orders:read', request_details: JSON.stringify({ decision_id: 'd-1', policy_version: 4 }), request_context: JSON.stringify({ req_ip: '203.0.113.9' }) }, { authorize });
    expect(response).toEqual({ access_token: expect.any(String), issued_token_type: TOKEN_TYPE_TXN_TOKEN, token_type: 'N_A', expires_in: 300, scope: 'orders:read' });
    expect(authorize).toHaveBeenCalledWith({ principal: { type: 'Workload', id: GATEWAY }, action: 'txn_token', resource: { trustDomain: TD }, txn: expect.any(String), context: { subject: 'alice', scopes: ['orders:read'], replacement: false } });
    // The decision is asked under the transaction id the token then carries.
    expect((await verify(response.access_token)).txn).toBe(authorize.mock.calls[0]?.[0].txn);
    expect(await verify(response.access_token)).toMatchObject({ sub: 'alice', scope: ['orders:read'], reqWl: GATEWAY, callChain: [GATEWAY], tctx: { decision_id: 'd-1', policy_version: 4 }, rctx: { req_ip: '203.0.113.9' } });
  });

  it('defaults to the subject token\'s scopes and never outlives it', async () => {
    const response = await issue({}, { subject: { token: userToken(['orders:read', 'orders:write'], { expiresAt: NOW + 42 }) } });
    expect(response).toMatchObject({ scope: 'orders:read orders:write', expires_in: 42 });
  });

  it('refuses a scope wider than the subject token\'s, and a subject token without scope', async () => {
    expect(await code(issue({ scope: 'orders:read admin' }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(issue({}, { subject: { token: userToken([]) } }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(issue({ scope: 'orders:read "x' }))).toBe('ERR_STS_INVALID_SCOPE');
  });

  it('refuses an expired subject token and what the tenant\'s policy does not permit', async () => {
    expect(await code(issue({}, { subject: { token: userToken(['orders:read'], { expiresAt: NOW }) } }))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
    expect(await code(issue({}, { authorize: async () => false }))).toBe('ERR_STS_EXCHANGE_DENIED');
  });

  it('checks the form: audience exactly the trust domain, no resource or actor, known token types, JSON objects', () => {
    const parse = (extra: Record<string, string | undefined>) => code(() => parseTxnTokenRequest(form(extra), TD));
    return Promise.all([
      expect(parse({ audience: undefined })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ audience: 'other.internal' })).resolves.toBe('ERR_STS_INVALID_TARGET'),
      expect(parse({ audience: `spiffe://${TD}` })).resolves.toBe('ERR_STS_INVALID_TARGET'),
      expect(parse({ resource: 'https://api.example.com' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ actor_token: 'x', actor_token_type: TOKEN_TYPE_ACCESS_TOKEN })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ subject_token: undefined })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ grant_type: 'client_credentials' })).resolves.toBe('ERR_STS_UNSUPPORTED_GRANT_TYPE'),
      expect(parse({ request_details: '[1]' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_context: '{nope' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_context: '{"__proto__":{"req_ip":"6.6.6.6"}}' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_details: '{"a":[{"constructor":1}]}' })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_context: JSON.stringify({ pad: 'x'.repeat(3000) }) })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_details: JSON.stringify({ decision_id: 7 }) })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
      expect(parse({ request_details: JSON.stringify({ policy_version: 0 }) })).resolves.toBe('ERR_STS_INVALID_REQUEST'),
    ]);
  });

  it('is misuse to pass a verified subject of the other kind', async () => {
    const old = await verify((await issue()).access_token);
    expect(await code(issue({}, { subject: { txnToken: old } }))).toBe('TypeError');
  });
});

describe('replacement Txn-Tokens', () => {
  it('keep txn, sub, aud and context; the new requester joins the call chain', async () => {
    const first = await verify((await issue({ scope: 'orders:read orders:write', request_details: JSON.stringify({ decision_id: 'd-1' }) })).access_token);
    const response = await replace(first, { request_details: JSON.stringify({ decision_id: 'd-1', step: 'pay' }) });
    const second = await verify(response.access_token);
    expect(second).toMatchObject({ txn: first.txn, sub: 'alice', reqWl: ORDERS, callChain: [GATEWAY, ORDERS], scope: ['orders:read', 'orders:write'], tctx: { decision_id: 'd-1', step: 'pay' } });
    // The trust domain cannot change either: the form's audience must be it.
    expect(await code(replace(first, { audience: 'other.internal' }))).toBe('ERR_STS_INVALID_TARGET');
  });

  it('narrow scope, never widen it', async () => {
    const first = await verify((await issue({ scope: 'orders:read' })).access_token);
    expect((await replace(first, { scope: 'orders:read' })).scope).toBe('orders:read');
    expect(await code(replace(first, { scope: 'orders:read orders:write' }))).toBe('ERR_STS_INVALID_SCOPE');
  });

  it('may not change an entry of tctx or rctx', async () => {
    const first = await verify((await issue({ request_details: JSON.stringify({ decision_id: 'd-1' }), request_context: JSON.stringify({ req_ip: '203.0.113.9' }) })).access_token);
    expect(await code(replace(first, { request_details: JSON.stringify({ decision_id: 'd-2' }) }))).toBe('ERR_STS_INVALID_REQUEST');
    expect(await code(replace(first, { request_context: JSON.stringify({ req_ip: '198.51.100.1' }) }))).toBe('ERR_STS_INVALID_REQUEST');
    expect(await code(replace(first, { request_details: JSON.stringify({ decision_id: 'd-1' }) }))).toBe('resolved');
  });

  it('never outlive the replaced token', async () => {
    const { token } = await issueTxnToken({ keyRing, issuer: ISSUER, trustDomain: TD, subject: 'alice', scopes: ['orders:read'], requestingWorkload: GATEWAY, ttlSec: 60, now: () => T0 });
    expect((await replace(await verify(token))).expires_in).toBe(60);
  });

  it('stop at the call chain limit', async () => {
    let current = await verify((await issue()).access_token);
    for (let i = 1; i < MAX_TXN_CALL_CHAIN; i++) current = await verify((await replace(current, {}, `spiffe://acme.internal/w${i}`)).access_token);
    expect(current.callChain).toHaveLength(MAX_TXN_CALL_CHAIN);
    expect(await code(replace(current))).toBe('ERR_STS_INVALID_SUBJECT_TOKEN');
  });
});
