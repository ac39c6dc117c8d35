/**
 * From an outsider's attack (issue 12): bad input must be a 4xx with a stable code, never a 5xx. A transmitter registered with
 * a public key that is no usable key (an EC point off its curve, truncated EC coordinates, a
 * 512-bit RSA key) is accepted (201), and every SET pushed for it then answers
 * `500 ERR_INTERNAL "SET verification failed unexpectedly"` — which RFC 8935 transmitters
 * retry, and which docs/http-api.md lists nowhere (refusals are 400 {err}). The registration
 * should be `400 ERR_SSF_TRANSMITTER_INVALID`, or at least the push `400 invalid_key`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer } from './helpers/verity.js';

const T = 'ssf-badkey';
let pdp: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  pdp = await startTestServer({ decisionAuth: 'open' });
  expect((await pdp.admin.post('/admin/v1/tenants', { id: T, settings: { risk: { enabled: true } } })).status).toBe(201);
}, 60_000);
afterAll(async () => { await pdp?.close(); });

it('never answers 5xx for a transmitter with an unusable key: refused at registration or the SET refused with 400', async () => {
  const good = await exportJWK((await generateKeyPair('ES256')).publicKey);
  const rsa512 = generateKeyPairSync('rsa', { modulusLength: 512 }).publicKey.export({ format: 'jwk' });
  const outcomes: Record<string, string> = {};
  for (const [name, key, alg] of [
    ['offcurve', { ...good, x: good.y, kid: 'k' }, 'ES256'],
    ['truncated', { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', kid: 'k' }, 'ES256'],
    ['rsa512', { ...rsa512, kid: 'k', alg: 'RS256' }, 'RS256'],
  ] as const) {
    const issuer = `https://${name}.example.com`;
    const registered = await pdp.admin.request('PUT', `/admin/v1/tenants/${T}/ssf/transmitters/${name}`, { issuer, jwks: { keys: [key] } });
    if (registered.status === 400) {
      outcomes[name] = `registration 400 ${registered.body.code}`;
      continue;
    }
    const now = Math.floor(Date.now() / 1000);
    const signer = await generateKeyPair(alg);
    const set = await new SignJWT({ iss: issuer, aud: `${pdp.url}/ssf/v1/tenants/${T}`, iat: now, jti: crypto.randomUUID(), sub_id: { format: 'opaque', id: 'alice' }, events: {} })
      .setProtectedHeader({ alg, kid: 'k', typ: 'secevent+jwt' })
      .sign(signer.privateKey);
    const pushed = await fetch(`${pdp.url}/ssf/v1/tenants/${T}/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
    outcomes[name] = `push ${pushed.status}`;
  }
  for (const [name, outcome] of Object.entries(outcomes)) expect(outcome, name).toMatch(/^(registration 400 ERR_SSF_TRANSMITTER_INVALID|push 400)$/);
});
