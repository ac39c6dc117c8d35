/**
 * attack7: a SET is JSON inside a JWT, so its strings never pass the JSON body check that refuses
 * NUL and unpaired surrogates. A transmitter's signed SET whose subject id, jti, assurance level or
 * device id holds such text must be accepted or refused with a 4xx — never a 5xx — and the tenant's
 * audit (the refusal is audited) and every other tenant's decisions must keep working.
 */
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'a7-ssf';
const ISS = 'https://signals.example.com';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let key: CryptoKey;
let audience: string;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  audience = `${pdp.url}/ssf/v1/tenants/${T}`;
  for (const t of [T, `${T}-other`]) {
    expect((await pdp.admin.post('/admin/v1/tenants', { id: t, settings: { risk: { enabled: true, devices: {} } } })).status).toBe(201);
    expect((await pdp.admin.post(`/admin/v1/tenants/${t}/policies`, { files: { 'p.cedar': 'permit(principal, action, resource);' } })).status).toBe(201);
  }
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  const registered = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/ssf/transmitters/signals`, { issuer: ISS, jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 's1', alg: 'ES256' }] } });
  expect(registered.status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

/** Sign by hand: the payload text is sent exactly (jose would re-encode lone surrogates). */
async function sign(payloadJson: string): Promise<string> {
  const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');
  const header = b64(JSON.stringify({ alg: 'ES256', kid: 's1', typ: 'secevent+jwt' }));
  const payload = b64(payloadJson);
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key as never, new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${b64(signature)}`;
}

it('SETs with NUL or unpaired surrogates in their text never answer 5xx nor stop the audit', async () => {
  const now = Math.floor(Date.now() / 1000);
  const base = (jti: string, subId: string, events: string) => `{"iss":"${ISS}","aud":"${audience}","iat":${now},"jti":"${jti}","sub_id":${subId},"events":${events}}`;
  const revoked = `{"${CAEP}session-revoked":{"event_timestamp":${now - 1}}}`;
  const cases: Record<string, string> = {
    'subject NUL': base('j1', '{"format":"opaque","id":"al\\u0000ice"}', revoked),
    'subject surrogate': base('j2', '{"format":"opaque","id":"al\\ud800ice"}', revoked),
    'jti NUL': base('j\\u00003', '{"format":"opaque","id":"alice"}', revoked),
    'jti surrogate': base('j\\udc004', '{"format":"opaque","id":"alice"}', revoked),
    'assurance NUL': base('j5', '{"format":"opaque","id":"alice"}', `{"${CAEP}assurance-level-change":{"namespace":"nist-aal","current_level":"aal\\u00002","event_timestamp":${now - 1}}}`),
    'assurance surrogate': base('j6', '{"format":"opaque","id":"alice"}', `{"${CAEP}assurance-level-change":{"namespace":"nist-aal","current_level":"aal\\ud8002","event_timestamp":${now - 1}}}`),
    'device NUL': base('j7', '{"format":"opaque","id":"dev\\u00001"}', `{"${CAEP}device-compliance-change":{"current_status":"not-compliant","previous_status":"compliant"}}`),
    'complex device NUL': base('j8', '{"format":"complex","device":{"format":"opaque","id":"dev\\u00001"}}', `{"${CAEP}device-compliance-change":{"current_status":"not-compliant","previous_status":"compliant"}}`),
    'event type NUL': base('j9', '{"format":"opaque","id":"alice"}', `{"urn:x\\u0000y":{}}`),
    'email NUL': base('j10', '{"format":"email","email":"a\\u0000@x.com"}', revoked),
    'iss_sub NUL': base('j11', `{"format":"iss_sub","iss":"${pdp?.url}/tenants/${T}","sub":"a\\u0000b"}`, revoked),
  };
  const got: Record<string, number> = {};
  for (const [name, payload] of Object.entries(cases)) {
    const res = await fetch(`${pdp.url}/ssf/v1/tenants/${T}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', 'x-request-id': `a7-${name.replace(/\W/g, '-')}` }, body: await sign(payload) });
    got[name] = res.status;
  }
  const fiveXX = Object.fromEntries(Object.entries(got).filter(([, s]) => s >= 500));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const decide = async (t: string) => (await pdp.admin.post(`/tenants/${t}/access/v1/evaluation`, { subject: { type: 'User', id: 'bob' }, action: { name: 'read' }, resource: { type: 'Doc', id: 'd' } })).status;
  const after = { self: await decide(T), other: await decide(`${T}-other`), verify: (await pdp.admin.get(`/admin/v1/tenants/${T}/audit/verify`)).status, verifySystem: (await pdp.admin.get('/admin/v1/tenants/_system/audit/verify')).status };
  expect({ fiveXX, after }, JSON.stringify(got)).toEqual({ fiveXX: {}, after: { self: 200, other: 200, verify: 200, verifySystem: 200 } });
  // A subject revoked under a NUL-bearing id must not revoke someone else, and the revocation list must still load.
  const revocations = await pdp.admin.get(`/admin/v1/tenants/${T}/revocations`);
  expect(revocations.status).toBeLessThan(500);
});
