/**
 * From an outsider's attack (issue 12): docs/continuous-verification.md "Shared Signals": a subject Verity cannot map is
 * "ERR_SSF_SUBJECT_UNSUPPORTED: refused rather than silently dropped, so the transmitter learns
 * the revocation did not land", and "Device events need a device subject {format: "opaque", id},
 * the device id as registered". A device-compliance-change saying a device is now NOT compliant,
 * for a device id that is not registered — or that is not even a valid device id ("a b") — is
 * acknowledged 202 and dropped: the MDM believes its non-compliance signal landed.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'ssf-devdrop';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const MDM = 'https://mdm.example.com';
let pdp: Awaited<ReturnType<typeof startTestServer>>;
let key: CryptoKey;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true, devices: {} } } })).status).toBe(201);
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  expect((await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/ssf/transmitters/mdm`, { issuer: MDM, jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'm', alg: 'ES256' }] } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

async function push(deviceId: string) {
  const now = Math.floor(Date.now() / 1000);
  const set = await new SignJWT({ iss: MDM, aud: `${pdp.url}/ssf/v1/tenants/${T}`, iat: now, jti: crypto.randomUUID(), sub_id: { device: { format: 'opaque', id: deviceId } }, events: { [`${CAEP}device-compliance-change`]: { previous_status: 'compliant', current_status: 'not-compliant', event_timestamp: now } } })
    .setProtectedHeader({ alg: 'ES256', kid: 'm', typ: 'secevent+jwt' })
    .sign(key);
  const response = await fetch(`${pdp.url}/ssf/v1/tenants/${T}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
  const text = await response.text();
  return { status: response.status, code: text === '' ? undefined : JSON.parse(text).code };
}

it('refuses (400 ERR_SSF_SUBJECT_UNSUPPORTED) a device event whose device id is malformed', async () => {
  expect(await push('a b')).toEqual({ status: 400, code: 'ERR_SSF_SUBJECT_UNSUPPORTED' });
});

it('does not acknowledge a non-compliance signal for a device that is not registered as if it landed', async () => {
  const answer = await push('never-registered');
  expect((await pdp.admin.get(`/admin/v1/tenants/${T}/devices`)).body.devices).toEqual([]);
  expect(answer.status, 'a 202 tells the MDM the signal landed; nothing was recorded').not.toBe(202);
});
