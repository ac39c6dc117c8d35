/**
 * Test fixtures for the agent and the Workload API: a PDP's workload endpoints as a fetch
 * function (real CA, real CSRs and proofs, no socket), with switches for failures and rotation.
 * Not exported from index.ts: import it by path, from tests only.
 */
import { X509Certificate } from 'node:crypto';
import { VerityError, isVerityError } from '@verity/core';
import type { WorkloadAgent, WorkloadAgentState } from './agent.js';
import { generateJwtAuthority, issueJwtSvid, type JwtAuthority } from './jwt-svid.js';
import { csrSha256, verifySvidProof } from './svid-proof.js';
import { toSpiffeBundleJson, type TrustBundle } from './trust-bundle.js';
import { generateCaAuthority, type CaAuthority } from './x509-ca.js';
import { issueX509Svid, verifyCsr } from './x509-svid.js';

export interface FakePdpCall {
  method: string;
  endpoint: string;
  body: Record<string, unknown> | undefined;
  authorization: string | null;
}

export interface FakeWorkloadPdp {
  readonly url: string;
  fetch: typeof globalThis.fetch;
  calls: FakePdpCall[];
  /** Lifetime of the SVIDs it issues, seconds. */
  ttlSec: number;
  /** Answer the next `times` calls of `endpoint` with this status (0: a network failure). */
  fail(endpoint: string, status: number, times?: number): void;
  /** A new CA generation: signs from now on; the old root stays in the bundle. */
  rotate(): Promise<void>;
  deny(spiffeId: string): void;
  bundle(): TrustBundle;
  /** The CA generation that signs now. */
  authority(): CaAuthority;
  /** Serial numbers (of leaf certificates) it issued, in order. */
  issued: string[];
}

export interface FakeWorkloadPdpOptions {
  tenant?: string;
  trustDomain?: string;
  spiffeId?: string;
  joinToken?: string;
  k8sToken?: string;
  pepCredential?: string;
  ttlSec?: number;
  refreshHintSec?: number;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/** The PDP's `/workload/v1/tenants/{t}/…` endpoints, answered in-process. */
export async function createFakeWorkloadPdp(options: FakeWorkloadPdpOptions = {}): Promise<FakeWorkloadPdp> {
  const url = 'http://127.0.0.1:8181';
  const tenant = options.tenant ?? 'acme';
  const trustDomain = options.trustDomain ?? 'acme.test';
  const spiffeId = options.spiffeId ?? `spiffe://${trustDomain}/billing`;
  const root = `${url}/workload/v1/tenants/${tenant}`;
  const authorities: CaAuthority[] = [await generateCaAuthority({ trustDomain })];
  const jwtAuthority: JwtAuthority = await generateJwtAuthority();
  let bundle: TrustBundle = {
    trustDomain,
    x509Authorities: [(authorities[0] as CaAuthority).rootPem],
    jwtAuthorities: [{ ...jwtAuthority.publicJwk, kid: jwtAuthority.kid }],
    sequence: 1,
    refreshHintSec: options.refreshHintSec ?? 300,
  };
  let joinToken: string | null = options.joinToken ?? 'join-token-secret';
  const denied = new Set<string>();
  const failures = new Map<string, Array<number>>();
  const seenJti = new Set<string>();

  async function issue(csr: unknown): Promise<Response> {
    const { publicKeyPem } = await verifyCsr(csr);
    const authority = authorities.at(-1) as CaAuthority;
    const svid = await issueX509Svid({ authority, spiffeId, publicKeyPem, ttlSec: pdp.ttlSec });
    pdp.issued.push(new X509Certificate(svid.certChainPem[0] as string).serialNumber.toLowerCase());
    return json(200, {
      spiffe_id: spiffeId,
      x509_svid: svid.certChainPem,
      expires_at: new Date(svid.expiresAtMs).toISOString(),
      bundle: toSpiffeBundleJson(bundle),
      bundle_sequence: bundle.sequence,
    });
  }

  async function proofOf(body: Record<string, unknown>, endpoint: string) {
    const proof = await verifySvidProof(body['proof'], { bundle, audience: `${root}/${endpoint}` });
    if (seenJti.has(proof.jti)) throw new VerityError('ERR_SVID_INVALID', 'proof replayed');
    seenJti.add(proof.jti);
    if (denied.has(proof.spiffeId)) throw new VerityError('ERR_SVID_REVOKED', 'deregistered');
    return proof;
  }

  async function answer(method: string, endpoint: string, body: Record<string, unknown> = {}, authorization: string | null = null): Promise<Response> {
    if (method === 'POST' && endpoint === 'attest') {
      const joining = body['attestor'] === 'join_token';
      const good = joining ? joinToken !== null && body['join_token'] === joinToken : body['attestor'] === 'k8s_psat' && body['token'] === options.k8sToken;
      if (!good) return json(401, { code: joining ? 'ERR_JOIN_TOKEN_INVALID' : 'ERR_ATTESTATION_FAILED', message: 'attestation refused' });
      if (joining) joinToken = null;
      return issue(body['csr']);
    }
    if (method === 'POST' && endpoint === 'renew') {
      const proof = await proofOf(body, 'renew');
      const { der } = await verifyCsr(body['csr']);
      if (proof.csrSha256 !== csrSha256(der)) throw new VerityError('ERR_SVID_INVALID', 'csr_sha256 does not match');
      return issue(body['csr']);
    }
    if (method === 'POST' && endpoint === 'jwt-svid') {
      const proof = await proofOf(body, 'jwt-svid');
      const jwt = await issueJwtSvid({ authority: jwtAuthority, spiffeId: proof.spiffeId, audience: body['audience'] as string[], ttlSec: 300 });
      return json(200, { token: jwt.token, expires_at: new Date(jwt.expiresAtMs).toISOString() });
    }
    if (method === 'GET' && endpoint === 'bundle') return json(200, toSpiffeBundleJson(bundle), { 'x-verity-bundle-sequence': String(bundle.sequence) });
    if (method === 'GET' && endpoint === 'denied') {
      if (authorization !== `Bearer ${options.pepCredential ?? 'pep-secret'}`) return json(401, { code: 'ERR_AUTH_INVALID', message: 'bad credential' });
      return json(200, { denied: [...denied].map((id) => ({ spiffe_id: id, until: new Date(Date.now() + 3600_000).toISOString() })), sequence: bundle.sequence });
    }
    return json(404, { code: 'ERR_REQUEST_NOT_FOUND', message: 'no such route' });
  }

  const pdp: FakeWorkloadPdp = {
    url,
    calls: [],
    issued: [],
    ttlSec: options.ttlSec ?? 3600,
    async fetch(input, init) {
      const target = new URL(String(input));
      const endpoint = target.pathname.startsWith(`/workload/v1/tenants/${tenant}/`) ? target.pathname.slice(`/workload/v1/tenants/${tenant}/`.length) : target.pathname;
      const method = init?.method ?? 'GET';
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
      const headers = new Headers(init?.headers);
      pdp.calls.push({ method, endpoint, body, authorization: headers.get('authorization') });
      const queued = failures.get(endpoint);
      const status = queued?.shift();
      if (status !== undefined) {
        if (status === 0) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
        return json(status, { code: status >= 500 ? 'ERR_INTERNAL' : 'ERR_SVID_INVALID', message: 'injected failure' });
      }
      try {
        return await answer(method, endpoint, body, headers.get('authorization'));
      } catch (error) {
        if (isVerityError(error)) return json(error.status, error.toJSON());
        throw error;
      }
    },
    fail(endpoint, status, times = 1) {
      failures.set(endpoint, [...(failures.get(endpoint) ?? []), ...Array<number>(times).fill(status)]);
    },
    async rotate() {
      const next = await generateCaAuthority({ trustDomain });
      authorities.push(next);
      bundle = { ...bundle, x509Authorities: [...bundle.x509Authorities, next.rootPem], sequence: bundle.sequence + 1 };
    },
    deny(id) {
      denied.add(id);
    },
    bundle: () => bundle,
    authority: () => authorities.at(-1) as CaAuthority,
  };
  return pdp;
}

/** An agent stand-in for Workload API tests: the state is set by the test, subscribers are told. */
export interface FakeAgent extends Pick<WorkloadAgent, 'state' | 'subscribe' | 'jwtSvid'> {
  set(next: Partial<WorkloadAgentState>): void;
  /** Audiences `jwtSvid` was called with. */
  jwtCalls: string[][];
}

export function createFakeAgent(initial: Partial<WorkloadAgentState> = {}): FakeAgent {
  let state: WorkloadAgentState = { svid: null, bundle: null, denied: new Set(), error: null, ...initial };
  const listeners = new Set<() => void>();
  const agent: FakeAgent = {
    jwtCalls: [],
    state: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async jwtSvid(audience) {
      agent.jwtCalls.push([...audience]);
      if (state.svid === null) throw new VerityError('ERR_STARTING', 'no SVID yet');
      return { token: `jwt-for-${audience.join(',')}`, expiresAtMs: Date.now() + 300_000 };
    },
    set(next) {
      state = { ...state, ...next };
      for (const listener of [...listeners]) listener();
    },
  };
  return agent;
}
