/** The workload-facing bodies: shape, unknown keys and size limits. */
import { describe, expect, it } from 'vitest';
import { MAX_CSR_CHARS, MAX_PROOF_CHARS, parseAttestRequest, parseJwtSvidRequest, parseRenewRequest } from './svid-requests.js';

const INVALID = expect.objectContaining({ code: 'ERR_REQUEST_INVALID' });
const TOO_LARGE = expect.objectContaining({ code: 'ERR_REQUEST_TOO_LARGE' });

describe('workload request bodies', () => {
  it('attest: the attestor names its evidence field; nothing else is taken', () => {
    expect(parseAttestRequest({ attestor: 'join_token', join_token: 'vjt_x', csr: 'C' })).toEqual({ attestor: 'join_token', evidence: { join_token: 'vjt_x' }, csr: 'C' });
    expect(parseAttestRequest({ attestor: 'k8s_psat', token: 'ey', csr: 'C' })).toEqual({ attestor: 'k8s_psat', evidence: { token: 'ey' }, csr: 'C' });
    for (const body of [null, [], {}, { attestor: 'x509pop', csr: 'C' }, { attestor: 'join_token', token: 'ey', csr: 'C' }, { attestor: 'join_token', join_token: 'vjt_x' }, { attestor: 'join_token', join_token: 'vjt_x', csr: 'C', spiffe_id: 'spiffe://td/x' }, { attestor: 'toString', csr: 'C' }]) {
      expect(() => parseAttestRequest(body), JSON.stringify(body)).toThrow(INVALID);
    }
    expect(() => parseAttestRequest({ attestor: 'join_token', join_token: 'vjt_x', csr: 'C'.repeat(MAX_CSR_CHARS + 1) })).toThrow(TOO_LARGE);
    expect(() => parseAttestRequest({ attestor: 'k8s_psat', token: 't'.repeat(16 * 1024 + 1), csr: 'C' })).toThrow(TOO_LARGE);
  });

  it('renew and jwt-svid: proof size, 1 to 8 distinct audiences', () => {
    expect(parseRenewRequest({ proof: 'p', csr: 'c' })).toEqual({ proof: 'p', csr: 'c' });
    expect(() => parseRenewRequest({ proof: 'p', csr: 'c', ttl: 5 })).toThrow(INVALID);
    expect(() => parseRenewRequest({ proof: 'p'.repeat(MAX_PROOF_CHARS + 1), csr: 'c' })).toThrow(TOO_LARGE);
    expect(parseJwtSvidRequest({ proof: 'p', audience: ['a', 'b'] })).toEqual({ proof: 'p', audience: ['a', 'b'] });
    for (const audience of [[], 'a', ['a', 'a'], [''], [1], Array.from({ length: 9 }, (_, i) => `a${i}`)]) {
      expect(() => parseJwtSvidRequest({ proof: 'p', audience }), JSON.stringify(audience)).toThrow(INVALID);
    }
    expect(() => parseJwtSvidRequest({ proof: 'p', audience: ['a'.repeat(513)] })).toThrow(TOO_LARGE);
  });
});
