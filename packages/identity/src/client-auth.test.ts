import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { authenticateClient, createMemorySeenJtiSet, readFormParam, CLIENT_ASSERTION_TYPE_JWT_BEARER } from './client-auth.js';
import type { StsClient } from './types.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW_SEC = T0 / 1000;
const TOKEN_ENDPOINT = 'https://sts.example.com/t/acme/oauth2/token';
const SECRET = 'correct horse: battery+staple';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function client(overrides: Partial<StsClient> = {}): StsClient {
  return { id: 'svc-a', tenant: 'acme', principal: { type: 'Service', id: 'svc-a' }, secretHash: sha256(SECRET), jwks: null, audiences: [], subjectAudiences: [], scopes: [], ...overrides };
}

async function jwtClient() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
  const d = (await exportJWK(privateKey)).d as string;
  return { privateKey, d, registered: client({ id: 'svc-jwt', secretHash: null, jwks: [jwk] }) };
}

function assertion(key: CryptoKey, claims: { iss?: string; sub?: string; aud?: string | string[]; exp?: number; jti?: string; iat?: number }) {
  const jwt = new SignJWT({ ...(claims.jti === undefined ? {} : { jti: claims.jti }) }).setProtectedHeader({ alg: 'ES256', kid: 'k1' });
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  return jwt.sign(key);
}

const good = (overrides: Record<string, unknown> = {}) => ({ iss: 'svc-jwt', sub: 'svc-jwt', aud: TOKEN_ENDPOINT, exp: NOW_SEC + 60, iat: NOW_SEC, jti: 'j-1', ...overrides });
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function run(request: { headers?: Record<string, string>; form?: Record<string, string> | URLSearchParams }, clients: StsClient[], seenJti = createMemorySeenJtiSet({ now: () => T0 })) {
  const lookup = async (id: string) => clients.find((c) => c.id === id) ?? null;
  return authenticateClient({ headers: request.headers ?? {}, form: request.form ?? {} }, lookup, { now: () => T0, tokenEndpointUrl: TOKEN_ENDPOINT, seenJti });
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; reason: string }> {
  const error = await promise.then(
    () => expect.fail('expected authentication to fail'),
    (e: unknown) => e as { code: string; message: string; cause: { reason: string } },
  );
  return { code: error.code, message: error.message, reason: error.cause.reason };
}

describe('authenticateClient: client secrets', () => {
  it('accepts client_secret_basic with form-urlencoded id and secret', async () => {
    const result = await run({ headers: { Authorization: basic('svc-a', SECRET) } }, [client()]);
    expect(result).toMatchObject({ method: 'client_secret_basic', client: { id: 'svc-a' } });
  });

  it('accepts client_secret_post', async () => {
    const result = await run({ form: new URLSearchParams({ client_id: 'svc-a', client_secret: SECRET }) }, [client()]);
    expect(result).toMatchObject({ method: 'client_secret_post', client: { id: 'svc-a' } });
  });

  it('rejects a wrong secret with a generic message that never echoes it', async () => {
    for (const request of [{ headers: { authorization: basic('svc-a', 'guess') } }, { form: { client_id: 'svc-a', client_secret: 'guess' } }]) {
      const f = await failure(run(request, [client()]));
      expect(f).toEqual({ code: 'ERR_STS_INVALID_CLIENT', message: 'Client authentication failed', reason: 'wrong_secret' });
    }
  });

  it('rejects an unknown client, a client without a secret, and malformed or mixed credentials', async () => {
    expect((await failure(run({ form: { client_id: 'nobody', client_secret: SECRET } }, [client()]))).reason).toBe('unknown_client');
    expect((await failure(run({ form: { client_id: 'svc-a', client_secret: SECRET } }, [client({ secretHash: null })]))).reason).toBe('method_not_registered');
    expect((await failure(run({}, [client()]))).reason).toBe('no_credentials');
    expect((await failure(run({ headers: { authorization: 'Basic !!!' } }, [client()]))).reason).toBe('malformed');
    expect((await failure(run({ headers: { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` } }, [client()]))).reason).toBe('malformed');
    expect((await failure(run({ headers: { authorization: basic('svc-a', SECRET) }, form: { client_id: 'svc-a', client_secret: SECRET } }, [client()]))).reason).toBe('multiple_methods');
    expect((await failure(run({ headers: { authorization: basic('svc-a', SECRET) }, form: { client_id: 'other' } }, [client()]))).reason).toBe('malformed');
    const repeated = new URLSearchParams([['client_id', 'svc-a'], ['client_secret', SECRET], ['client_secret', 'x']]);
    expect((await failure(run({ form: repeated }, [client()]))).reason).toBe('malformed');
  });
});

describe('authenticateClient: private_key_jwt', () => {
  const form = (token: string) => ({ client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER, client_assertion: token });

  it('accepts an assertion signed by a registered key', async () => {
    const { privateKey, registered } = await jwtClient();
    const result = await run({ form: { ...form(await assertion(privateKey, good())), client_id: 'svc-jwt' } }, [registered]);
    expect(result).toMatchObject({ method: 'private_key_jwt', client: { id: 'svc-jwt' } });
  });

  it('rejects a replayed jti', async () => {
    const { privateKey, registered } = await jwtClient();
    const seen = createMemorySeenJtiSet({ now: () => T0 });
    const token = await assertion(privateKey, good());
    await expect(run({ form: form(token) }, [registered], seen)).resolves.toBeDefined();
    expect((await failure(run({ form: form(token) }, [registered], seen))).reason).toBe('jti_replayed');
    // A different jti from the same client is fine.
    await expect(run({ form: form(await assertion(privateKey, good({ jti: 'j-2' }))) }, [registered], seen)).resolves.toBeDefined();
  });

  it('rejects a wrong or multi-valued audience', async () => {
    const { privateKey, registered } = await jwtClient();
    expect((await failure(run({ form: form(await assertion(privateKey, good({ aud: 'https://other.example.com/token' }))) }, [registered]))).reason).toBe('assertion_invalid');
    expect((await failure(run({ form: form(await assertion(privateKey, good({ aud: [TOKEN_ENDPOINT, 'https://evil.example'] }))) }, [registered]))).reason).toBe('assertion_invalid');
  });

  it('rejects expired, long-lived and exp-less assertions', async () => {
    const { privateKey, registered } = await jwtClient();
    expect((await failure(run({ form: form(await assertion(privateKey, good({ exp: NOW_SEC - 120, iat: NOW_SEC - 180 }))) }, [registered]))).reason).toBe('assertion_invalid');
    expect((await failure(run({ form: form(await assertion(privateKey, good({ exp: NOW_SEC + 3600 }))) }, [registered]))).reason).toBe('assertion_lifetime');
    expect((await failure(run({ form: form(await assertion(privateKey, good({ exp: undefined }))) }, [registered]))).reason).toBe('assertion_invalid');
    expect((await failure(run({ form: form(await assertion(privateKey, good({ jti: undefined }))) }, [registered]))).reason).toBe('assertion_invalid');
  });

  it('rejects iss/sub mismatch, a foreign key, unknown clients and a wrong assertion type', async () => {
    const { privateKey, registered } = await jwtClient();
    const other = await jwtClient();
    expect((await failure(run({ form: form(await assertion(privateKey, good({ sub: 'someone-else' }))) }, [registered]))).reason).toBe('assertion_invalid');
    expect((await failure(run({ form: form(await assertion(other.privateKey, good())) }, [registered]))).reason).toBe('assertion_invalid');
    expect((await failure(run({ form: form(await assertion(privateKey, good({ iss: 'nobody', sub: 'nobody' }))) }, [registered]))).reason).toBe('unknown_client');
    expect((await failure(run({ form: form(await assertion(privateKey, good())) }, [{ ...registered, jwks: null }]))).reason).toBe('method_not_registered');
    expect((await failure(run({ form: { client_assertion_type: 'urn:other', client_assertion: await assertion(privateKey, good()) } }, [registered]))).reason).toBe('malformed');
    expect((await failure(run({ form: { ...form(await assertion(privateKey, good())), client_id: 'svc-a' } }, [registered]))).reason).toBe('malformed');
    expect((await failure(run({ form: form('not.a.jwt') }, [registered]))).reason).toBe('malformed');
  });

  it('never puts the assertion or key material into the error', async () => {
    const { privateKey, d, registered } = await jwtClient();
    const token = await assertion(privateKey, good({ aud: 'https://wrong.example' }));
    const error = await run({ form: form(token) }, [registered]).catch((e: Error) => e);
    const text = JSON.stringify(error) + String(error) + JSON.stringify((error as Error).cause);
    expect(text).toContain('ERR_STS_INVALID_CLIENT');
    for (const secret of [token, token.split('.')[2]!, d, SECRET]) expect(text).not.toContain(secret);
  });
});

describe('readFormParam', () => {
  it('treats empty as absent and repeated as invalid', () => {
    expect(readFormParam({ a: '' }, 'a')).toBeUndefined();
    expect(readFormParam({ a: ['x'] }, 'a')).toBe('x');
    expect(() => readFormParam({ a: ['x', 'y'] }, 'a')).toThrow(expect.objectContaining({ code: 'ERR_STS_INVALID_REQUEST' }));
    expect(readFormParam({}, 'toString')).toBeUndefined();
  });
});

describe('createMemorySeenJtiSet', () => {
  it('forgets a jti once it has expired', () => {
    let t = T0;
    const seen = createMemorySeenJtiSet({ now: () => t });
    expect(seen.addIfAbsent('k', NOW_SEC + 60)).toBe(true);
    expect(seen.addIfAbsent('k', NOW_SEC + 60)).toBe(false);
    t = T0 + 61_000;
    expect(seen.addIfAbsent('k', NOW_SEC + 200)).toBe(true);
  });
});
