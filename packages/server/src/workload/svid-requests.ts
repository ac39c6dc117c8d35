/** The workload-facing request bodies (attest, renew, jwt-svid), checked for shape and size. Unknown keys are errors. */
import { isPlainObject, VerityError } from '@verity/core';

/** Largest CSR (PEM characters): a P-256 CSR is about 500, an RSA-4096 one about 2,000. */
export const MAX_CSR_CHARS = 8 * 1024;
/** Largest proof (compact JWS characters): it carries the leaf and the intermediate. */
export const MAX_PROOF_CHARS = 16 * 1024;
/** Largest attestation token (a Kubernetes service-account token is about 1 KiB). */
export const MAX_EVIDENCE_TOKEN_CHARS = 16 * 1024;
/** Most audiences a JWT-SVID may name, and the longest one. */
export const MAX_AUDIENCES = 8;
export const MAX_AUDIENCE_CHARS = 512;

export interface AttestRequest {
  attestor: string;
  /** The attestor's evidence fields (`join_token`, or `token`). */
  evidence: Record<string, unknown>;
  csr: string;
}

export interface RenewRequest {
  proof: string;
  csr: string;
}

export interface JwtSvidRequest {
  proof: string;
  audience: string[];
}

/** Each attestor's evidence fields. */
const EVIDENCE_KEYS: Record<string, readonly string[]> = { join_token: ['join_token'], k8s_psat: ['token'] };

function invalid(message: string): VerityError {
  return new VerityError('ERR_REQUEST_INVALID', message);
}

function objectWith(body: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalid('the body must be a JSON object');
  const unknown = Object.keys(body).filter((key) => !keys.includes(key));
  if (unknown.length > 0) throw invalid(`unknown keys: ${unknown.slice(0, 5).join(', ')}`);
  return body;
}

function text(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value === '') throw invalid(`${name} must be a non-empty string`);
  if (value.length > max) throw new VerityError('ERR_REQUEST_TOO_LARGE', `${name} is longer than ${max} characters`);
  return value;
}

/** `{attestor: "join_token", join_token, csr}` or `{attestor: "k8s_psat", token, csr}`. */
export function parseAttestRequest(body: unknown): AttestRequest {
  const attestor = isPlainObject(body) ? body.attestor : undefined;
  if (typeof attestor !== 'string' || !Object.hasOwn(EVIDENCE_KEYS, attestor)) throw invalid(`attestor must be one of ${Object.keys(EVIDENCE_KEYS).join(', ')}`);
  const fields = EVIDENCE_KEYS[attestor] as readonly string[];
  const b = objectWith(body, ['attestor', 'csr', ...fields]);
  const evidence = Object.fromEntries(fields.map((name) => [name, text(b[name], name, MAX_EVIDENCE_TOKEN_CHARS)]));
  return { attestor, evidence, csr: text(b.csr, 'csr', MAX_CSR_CHARS) };
}

/** `{proof, csr}`. */
export function parseRenewRequest(body: unknown): RenewRequest {
  const b = objectWith(body, ['proof', 'csr']);
  return { proof: text(b.proof, 'proof', MAX_PROOF_CHARS), csr: text(b.csr, 'csr', MAX_CSR_CHARS) };
}

/** `{proof, audience: [..]}`: 1 to 8 distinct audiences. */
export function parseJwtSvidRequest(body: unknown): JwtSvidRequest {
  const b = objectWith(body, ['proof', 'audience']);
  const audience = b.audience;
  if (!Array.isArray(audience) || audience.length === 0 || audience.length > MAX_AUDIENCES) throw invalid(`audience must be an array of 1 to ${MAX_AUDIENCES} strings`);
  const audiences = audience.map((value, i) => text(value, `audience[${i}]`, MAX_AUDIENCE_CHARS));
  if (new Set(audiences).size !== audiences.length) throw invalid('audience must not repeat');
  return { proof: text(b.proof, 'proof', MAX_PROOF_CHARS), audience: audiences };
}
