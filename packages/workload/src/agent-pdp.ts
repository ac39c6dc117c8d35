/** The workload agent's calls to the PDP's workload endpoints, and the checks on what they answer. */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ERROR_CODES, VerityError, type ErrorCode } from '@verity/core';
import { parseSpiffeId } from './spiffe-id.js';
import type { X509Svid } from './svid-source.js';
import { parseSpiffeBundleJson, type TrustBundle } from './trust-bundle.js';
import { verifyX509Svid } from './x509-svid.js';

/** A failed call; `retriable` when another try may succeed (no answer, 429, 5xx). */
export class PdpCallError extends VerityError {
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, retriable: boolean) {
    super(code, message);
    this.retriable = retriable;
  }
}

export interface PdpClient {
  /** `{base}/workload/v1/tenants/{t}/{endpoint}`: what a proof's `aud` must be. */
  endpoint(name: 'attest' | 'renew' | 'jwt-svid' | 'bundle' | 'denied'): string;
  post(name: 'attest' | 'renew' | 'jwt-svid', body: unknown): Promise<unknown>;
  get(name: 'bundle' | 'denied', credential?: string): Promise<{ body: unknown; headers: Headers }>;
}

/** The PDP's base URL without credentials or a trailing slash; a TypeError unless https, or http on loopback. */
export function checkPdpUrl(raw: unknown, who: string): string {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new TypeError(`${who}: pdpUrl must be an http(s) URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  // A join token and the SVIDs travel on this link: plain http only to this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new TypeError(`${who}: pdpUrl must be https (http only on loopback)`);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/** A client for one tenant's workload endpoints; errors carry the PDP's code, never a token. */
export function createPdpClient(base: string, tenant: string, fetchImpl: typeof globalThis.fetch): PdpClient {
  const root = `${base}/workload/v1/tenants/${encodeURIComponent(tenant)}`;
  async function call(method: string, name: string, body: unknown, credential: string | undefined): Promise<{ body: unknown; headers: Headers }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (credential !== undefined) headers['authorization'] = `Bearer ${credential}`;
    let response: Response;
    try {
      response = await fetchImpl(`${root}/${name}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause?.code;
      throw new PdpCallError('ERR_INTERNAL', `cannot reach the PDP at ${base} (${typeof cause === 'string' ? cause : 'network error'})`, true);
    }
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw answerError(response.status, name, parsed);
    return { body: parsed, headers: response.headers };
  }
  return {
    endpoint: (name) => `${root}/${name}`,
    post: async (name, body) => (await call('POST', name, body, undefined)).body,
    get: (name, credential) => call('GET', name, undefined, credential),
  };
}

/** The PDP's `{code, message}` (its messages are safe to show) as a PdpCallError. */
function answerError(status: number, name: string, body: unknown): PdpCallError {
  const retriable = status === 429 || status >= 500;
  const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && code in ERROR_CODES) {
    return new PdpCallError(code as ErrorCode, `the PDP refused ${name}: ${typeof message === 'string' ? message : code}`, retriable);
  }
  return new PdpCallError(retriable ? 'ERR_INTERNAL' : 'ERR_REQUEST_INVALID', `the PDP answered ${name} with HTTP ${status}`, retriable);
}

function badAnswer(what: string): PdpCallError {
  // Not retried by an attestation: the PDP has taken the join token already. Renewals retry anything.
  return new PdpCallError('ERR_SVID_INVALID', `the PDP's answer is not a valid ${what}`, false);
}

/** A bundle from its SPIFFE JSON, with the PDP's sequence when it sent one apart from it. */
export function readBundle(trustDomain: string, json: unknown, sequence: unknown): TrustBundle {
  let bundle: TrustBundle;
  try {
    bundle = parseSpiffeBundleJson(trustDomain, json);
  } catch {
    throw badAnswer('trust bundle');
  }
  const seq = typeof sequence === 'string' && /^[0-9]{1,15}$/.test(sequence) ? Number(sequence) : sequence;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? { ...bundle, sequence: seq } : bundle;
}

/**
 * An attest or renew answer checked: the chain verifies against the bundle it came with, names
 * the SPIFFE id it claims, and certifies the key we generated (else the PDP sent someone else's).
 */
export function readIssued(body: unknown, privateKeyPem: string, now: () => number): { svid: X509Svid; bundle: TrustBundle } {
  const answer = (body ?? {}) as { spiffe_id?: unknown; x509_svid?: unknown; bundle?: unknown; bundle_sequence?: unknown };
  const chain = answer.x509_svid;
  if (typeof answer.spiffe_id !== 'string' || !Array.isArray(chain) || chain.length === 0 || !chain.every((pem) => typeof pem === 'string')) {
    throw badAnswer('X.509-SVID');
  }
  const trustDomain = parseSpiffeId(answer.spiffe_id).trustDomain;
  const bundle = readBundle(trustDomain, answer.bundle, answer.bundle_sequence);
  const verified = verifyX509Svid(chain as string[], bundle, { now });
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0] as string);
  } catch {
    throw badAnswer('X.509-SVID');
  }
  if (verified.spiffeId !== answer.spiffe_id || !leaf.checkPrivateKey(createPrivateKey(privateKeyPem))) throw badAnswer('X.509-SVID for this key');
  const issuedAtMs = Date.parse(leaf.validFrom);
  const svid: X509Svid = {
    spiffeId: verified.spiffeId,
    certChainPem: chain as string[],
    privateKeyPem,
    expiresAtMs: verified.expiresAtMs,
    issuedAtMs: Number.isFinite(issuedAtMs) ? issuedAtMs : now(),
  };
  return { svid, bundle };
}

/** `{denied:[{spiffe_id}]}` as a set of SPIFFE ids. */
export function readDenied(body: unknown): Set<string> {
  const list = (body as { denied?: unknown } | undefined)?.denied;
  if (!Array.isArray(list)) throw badAnswer('deny list');
  const ids = new Set<string>();
  for (const entry of list) {
    const id = (entry as { spiffe_id?: unknown } | null)?.spiffe_id;
    if (typeof id !== 'string') throw badAnswer('deny list');
    ids.add(id);
  }
  return ids;
}

/** `{token, expires_at}` from the jwt-svid endpoint. */
export function readJwtSvid(body: unknown): { token: string; expiresAtMs: number } {
  const { token, expires_at: expiresAt } = (body ?? {}) as { token?: unknown; expires_at?: unknown };
  const expiresAtMs = typeof expiresAt === 'string' ? Date.parse(expiresAt) : typeof expiresAt === 'number' ? expiresAt * 1000 : NaN;
  if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresAtMs)) throw badAnswer('JWT-SVID');
  return { token, expiresAtMs };
}
