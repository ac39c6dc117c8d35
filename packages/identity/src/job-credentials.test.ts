import { describe, expect, it } from 'vitest';
import { decodeJwt, SignJWT } from 'jose';
import { createMemorySigningKeyStore, createSigningKeyRing } from './signing-keys.js';
import { createTokenIssuer } from './token-issuer.js';
import { exchangeToken, TOKEN_TYPE_ACCESS_TOKEN, type ExchangeTokenOptions } from './token-exchange.js';
import { createRevocationList } from './revocation-list.js';
import { createTokenAuthenticator, revocationCheck } from './token-authenticator.js';
import { createTokenVerifier } from './token-verifier.js';
import { stsIdentitySource } from './sts-source.js';
import { isJobId, JOB_CLAIM } from './job-id.js';
import type { IdentitySource, StsClient, VerifiedToken } from './types.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW = T0 / 1000;
const ISSUER = 'https://sts.example.com/t/acme';
const AUD_A = 'https://svc-a.example.com';
const AUD_B = 'https://svc-b.example.com';

const keyRing = createSigningKeyRing({ store: createMemorySigningKeyStore(), now: () => T0 });
const issuer = createTokenIssuer({ issuer: ISSUER, keyRing, now: () => T0 });

const batch: StsClient = {
  id: 'batch', tenant: 'acme', principal: { type: 'Service', id: 'batch' }, secretHash: null, jwks: null,
  audiences: [AUD_A, AUD_B], subjectAudiences: [], scopes: ['orders:read', 'orders:write', 'audit:read'],
};

function subject(overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    sourceId: 'verity-sts', issuer: ISSUER, subject: 'batch', tokenId: 'jti-0', issuedAt: NOW - 10, clockToleranceSec: 30, expiresAt: NOW + 3600, clientId: 'batch',
    scopes: ['orders:read', 'orders:write'], actors: [], principal: { uid: { type: 'Service', id: 'batch' }, attrs: {}, parents: [] }, parents: [], context: {}, claims: { sub: 'batch', aud: ISSUER }, ...overrides,
  };
}

function exchange(extra: Record<string, string>, overrides: Partial<ExchangeTokenOptions> = {}) {
  const form = { grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'opaque', subject_token_type: TOKEN_TYPE_ACCESS_TOKEN, audience: AUD_A, ...extra };
  return exchangeToken({ form, client: batch, verifiedSubject: subject(), issuer, authorize: async () => true, ...overrides });
}

async function code(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'resolved', (e: { code?: string; name: string }) => e.code ?? e.name);
}

describe('job ids', () => {
  it('are 1-128 characters of [A-Za-z0-9._:-]', () => {
    expect(['j', 'nightly-export:2026-12-01', 'a.b_c', 'x'.repeat(128)].every(isJobId)).toBe(true);
    expect(['', 'x'.repeat(129), 'a b', 'a/b', 'é', 7, null].some(isJobId)).toBe(false);
  });
});

describe('token exchange with job_id', () => {
  it('tags the token with the job and exactly the audience and scopes asked for', async () => {
    const a = await exchange({ job_id: 'run-1', scope: 'orders:read' });
    const b = await exchange({ job_id: 'run-1', scope: 'orders:write', audience: AUD_B });
    expect(decodeJwt(a.access_token)).toMatchObject({ [JOB_CLAIM]: 'run-1', aud: AUD_A, scope: 'orders:read', sub: 'batch', act: { sub: 'batch' } });
    expect(decodeJwt(b.access_token)).toMatchObject({ [JOB_CLAIM]: 'run-1', aud: AUD_B, scope: 'orders:write' });
    // Without job_id there is no job claim at all.
    expect(decodeJwt((await exchange({ scope: 'orders:read' })).access_token)).not.toHaveProperty(JOB_CLAIM);
  });

  it('refuses a malformed job_id, and a scope or audience beyond what the subject and client allow', async () => {
    expect(await code(exchange({ job_id: 'has space' }))).toBe('ERR_STS_INVALID_JOB');
    expect(await code(exchange({ job_id: 'x'.repeat(129) }))).toBe('ERR_STS_INVALID_JOB');
    // audit:read: the client may hold it, the subject token does not.
    expect(await code(exchange({ job_id: 'run-1', scope: 'orders:read audit:read' }))).toBe('ERR_STS_INVALID_SCOPE');
    expect(await code(exchange({ job_id: 'run-1', audience: 'https://elsewhere.example.com' }))).toBe('ERR_STS_INVALID_TARGET');
  });

  it("keeps a job token's job: without job_id it is passed on, another job_id is refused", async () => {
    const jobSubject = subject({ job: 'run-1' });
    const kept = await exchange({ scope: 'orders:read' }, { verifiedSubject: jobSubject });
    expect(decodeJwt(kept.access_token)[JOB_CLAIM]).toBe('run-1');
    const same = await exchange({ job_id: 'run-1' }, { verifiedSubject: jobSubject });
    expect(decodeJwt(same.access_token)[JOB_CLAIM]).toBe('run-1');
    expect(await code(exchange({ job_id: 'run-2' }, { verifiedSubject: jobSubject }))).toBe('ERR_STS_INVALID_JOB');
  });
});

describe('verifying and revoking a job token', () => {
  const verifier = createTokenVerifier({ now: () => T0 + 1000 });
  async function sources(): Promise<IdentitySource[]> {
    const keys = { kind: 'inline' as const, keys: (await keyRing.jwks()).keys as unknown as Array<Record<string, unknown>> };
    return [{ ...stsIdentitySource({ tenant: 'acme', issuer: ISSUER, audiences: [AUD_A, AUD_B] }), keys }];
  }

  it("reads the job claim only from the tenant's own token service, and refuses a malformed one there", async () => {
    const [sts] = await sources();
    const { token } = await issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['orders:read'], job: 'run-1' });
    expect((await verifier.verify(token, [sts!])).job).toBe('run-1');
    // The same token through another source: its `job` claim is not a Verity job.
    expect((await verifier.verify(token, [{ ...sts!, id: 'idp' }])).job).toBeUndefined();
    // A malformed job claim under the service's key: refused, as a job revocation could not name it.
    const key = await keyRing.current();
    const bad = await new SignJWT({ sub: 'batch', aud: AUD_A, iss: ISSUER, iat: NOW, exp: NOW + 300, scope: 'orders:read', [JOB_CLAIM]: 'a b' })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
      .sign(key.key);
    expect(await code(verifier.verify(bad, [sts!]))).toBe('ERR_TOKEN_CLAIMS');
    // The issuer itself never writes one, nor lets extraClaims set it.
    await expect(issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['x'], job: 'a b' })).rejects.toThrow(TypeError);
    await expect(issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['x'], extraClaims: { job: 'run-1' } })).rejects.toThrow(/may not set "job"/);
  });

  it('a job revocation refuses every token of the job issued until the cut-off, not other jobs or later tokens', async () => {
    const list = createRevocationList({ now: () => T0 + 1000 });
    const tokens = createTokenAuthenticator({ verifier, revocations: list });
    const all = await sources();
    const one = await issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['orders:read'], job: 'run-1' });
    const two = await issuer.issue({ subject: 'batch', audience: AUD_B, scopes: ['orders:write'], job: 'run-1' });
    const other = await issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['orders:read'], job: 'run-2' });
    const none = await issuer.issue({ subject: 'batch', audience: AUD_A, scopes: ['orders:read'] });
    for (const t of [one, two, other, none]) await tokens.authenticate(t.token, { tenant: 'acme', sources: all });

    list.add({ kind: 'job', tenant: 'acme', job: 'run-1', issuedBefore: NOW + 1 });
    for (const t of [one, two]) expect(await code(tokens.authenticate(t.token, { tenant: 'acme', sources: all }))).toBe('ERR_TOKEN_REVOKED');
    for (const t of [other, none]) expect((await tokens.authenticate(t.token, { tenant: 'acme', sources: all })).subject).toBe('batch');
    // Another tenant's job of the same name is not touched.
    const verified = await verifier.verify(one.token, all);
    expect(list.isRevoked(revocationCheck('globex', verified))).toBe(false);
    // A token of the job issued after the cut-off (beyond the source's 30 s tolerance) is not revoked.
    expect(list.isRevoked({ ...revocationCheck('acme', verified), issuedAt: NOW + 32 })).toBe(false);
    expect(list.isRevoked({ ...revocationCheck('acme', verified), issuedAt: NOW + 31 })).toBe(true);
    expect(list.isRevoked({ ...revocationCheck('acme', verified), issuedAt: null })).toBe(true);
  });

  it('job revocations survive snapshot and load, and are forgotten with the longest token lifetime', () => {
    let now = T0;
    const list = createRevocationList({ now: () => now, maxTokenLifetimeSec: 600 });
    list.add({ kind: 'job', tenant: 'acme', job: 'run-1', issuedBefore: NOW });
    const copy = createRevocationList({ now: () => now });
    copy.load(list.snapshot());
    expect(copy.snapshot()).toEqual([{ kind: 'job', tenant: 'acme', job: 'run-1', issuedBefore: NOW }]);
    expect(copy.isRevoked({ tenant: 'acme', tokenId: 'j', subject: 's', clientId: null, issuedAt: NOW, job: 'run-1' })).toBe(true);
    expect(() => copy.add({ kind: 'job', tenant: 'acme', job: '', issuedBefore: NOW })).toThrow(TypeError);
    now = T0 + 601_000;
    expect(list.forgetExpired()).toBe(1);
    expect(list.snapshot()).toEqual([]);
  });
});
