/**
 * SVID issuance: attest (evidence + CSR → the first X.509-SVID), renew (a proof signed with the
 * current SVID + CSR → a new one) and JWT-SVIDs (proof → token). Every SVID handed out is first
 * recorded against its registration and its authority, so a removal denies the SPIFFE id long
 * enough and a rotation keeps the old root trusted long enough. Refusals are audited.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isVerityError, VerityError, type DecisionMeta } from '@verity/core';
import type { Store, StoredWorkload } from '@verity/store';
import { csrSha256, issueJwtSvid, issueX509Svid, parseWorkloadSpiffeId, verifyCsr, verifySvidProof, type TrustBundle } from '@verity/workload/core';
import type { AuditWriter } from '../audit-writer.js';
import { recordSecurityEvent } from '../security-event.js';
import type { Attestor } from './attestor.js';
import type { CaService, CaSigners } from './ca-service.js';
import type { RegistryService } from './registry-service.js';
import type { AttestRequest, JwtSvidRequest, RenewRequest } from './svid-requests.js';

/** An issued X.509-SVID with the bundle to verify peers by. */
export interface IssuedSvid {
  spiffeId: string;
  /** `[leaf, intermediate]`, PEM. */
  certChainPem: string[];
  expiresAtMs: number;
  bundle: TrustBundle;
}

export interface SvidService {
  attest(tenant: string, request: AttestRequest, meta: DecisionMeta): Promise<IssuedSvid>;
  renew(tenant: string, request: RenewRequest, meta: DecisionMeta): Promise<IssuedSvid>;
  jwtSvid(tenant: string, request: JwtSvidRequest, meta: DecisionMeta): Promise<{ token: string; expiresAtMs: number }>;
}

export interface SvidServiceOptions {
  store: Store;
  ca: CaService;
  registry: RegistryService;
  attestors: readonly Attestor[];
  audit: AuditWriter;
  /** The server's public base URL: proofs name `{base}/workload/v1/tenants/{t}/renew` (or `/jwt-svid`) as `aud`. */
  baseUrl: () => string;
  now?: () => number;
}

/**
 * How long a used proof id is remembered: past a proof's longest life (`iat` 5 s ahead + 60 s),
 * with room for clock steps. After it, the proof has expired anyway.
 */
const JTI_MEMORY_MS = 5 * 60 * 1000;
/** Expired join tokens, proof ids and deny entries are swept at most this often (on a successful request). */
const SWEEP_EVERY_MS = 10 * 60 * 1000;
/** Tries when a rotation (on any replica) retires the authority between signing and recording. */
const ISSUE_ATTEMPTS = 3;

function revoked(): VerityError {
  return new VerityError('ERR_SVID_REVOKED', 'this workload is no longer registered');
}

/** Hex sha256 of the SPIFFE id and the jti: one workload's ids cannot collide with another's. */
function jtiKey(spiffeId: string, jti: string): string {
  return createHash('sha256').update(spiffeId).update('\0').update(jti).digest('hex');
}

export function createSvidService(options: SvidServiceOptions): SvidService {
  const { store, ca, registry, audit } = options;
  const now = options.now ?? Date.now;
  const attestors = new Map(options.attestors.map((a) => [a.type, a]));
  let lastSweep = 0;

  /** Run `work`; a refusal (401) is recorded in the tenant's audit as a denied `action` of `who()`. */
  async function audited<T>(tenant: string, action: string, meta: DecisionMeta, who: () => string, work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      sweep();
      return result;
    } catch (error) {
      if (isVerityError(error) && error.status === 401) {
        await recordSecurityEvent(audit, {
          tenant,
          principal: { type: 'Verity::Workload', id: who() },
          action: { type: 'Verity::Action', id: action },
          resource: { type: 'Verity::Tenant', id: tenant },
          code: error.code,
          check: 'workload',
          meta,
          now: now(),
        });
      }
      throw error;
    }
  }

  function sweep(): void {
    const time = now();
    if (time - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = time;
    // Housekeeping only: every check also compares times, so a failed sweep changes no answer.
    store.workloads.pruneExpired(time).catch(() => {});
  }

  /**
   * Sign with the tenant's active authorities and record what was signed before handing it out.
   * `gone` is thrown when the registration was removed meanwhile; a rotation that retired the
   * authority meanwhile (on any replica) means signing again with the new one.
   */
  async function signRecorded<T extends { expiresAtMs: number }>(
    tenant: string,
    registration: StoredWorkload,
    gone: () => VerityError,
    sign: (signers: CaSigners) => Promise<T>,
    authorityOf: (signers: CaSigners) => { x509: string } | { jwt: string },
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const signers = await ca.signers(tenant);
      const signed = await sign(signers);
      const outcome = await store.workloads.recordIssued(tenant, { registrationId: registration.id, authority: authorityOf(signers), expiresAtMs: signed.expiresAtMs });
      if (outcome === 'registration-gone') throw gone();
      if (outcome === 'recorded') return signed;
      ca.invalidate(tenant);
      if (attempt >= ISSUE_ATTEMPTS) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the workload CA kept rotating while an SVID was issued; try again');
    }
  }

  async function issue(tenant: string, registration: StoredWorkload, publicKeyPem: string, gone: () => VerityError): Promise<IssuedSvid> {
    const svid = await signRecorded(
      tenant,
      registration,
      gone,
      (signers) => {
        if (parseWorkloadSpiffeId(registration.spiffeId).trustDomain !== signers.x509.trustDomain) {
          throw new VerityError('ERR_WORKLOAD_INVALID', `this workload was registered in another trust domain than the tenant's "${signers.x509.trustDomain}": register it again`);
        }
        return issueX509Svid({ authority: signers.x509, spiffeId: registration.spiffeId, publicKeyPem, ttlSec: registration.x509TtlSec, now });
      },
      (signers) => ({ x509: signers.x509.id }),
    );
    return { spiffeId: registration.spiffeId, certChainPem: svid.certChainPem, expiresAtMs: svid.expiresAtMs, bundle: await ca.bundle(tenant) };
  }

  /**
   * Check a renew / jwt-svid proof: its chain against the tenant's bundle, its audience and age,
   * for a renewal that it names this CSR; then that the SPIFFE id is still registered and not
   * denied, and (last, so a refused proof does not burn it) that its jti was never used.
   */
  async function proven(tenant: string, proof: string, endpoint: 'renew' | 'jwt-svid', onId: (id: string) => void, csrDer?: Uint8Array): Promise<StoredWorkload> {
    const audience = `${options.baseUrl()}/workload/v1/tenants/${tenant}/${endpoint}`;
    const verified = await verifySvidProof(proof, { bundle: await ca.bundle(tenant), audience, now });
    onId(verified.spiffeId);
    if (csrDer !== undefined) {
      // The proof must name this very CSR: a proof seen in transit cannot renew another key.
      const expected = csrSha256(csrDer);
      const named = verified.csrSha256;
      if (named === undefined || named.length !== expected.length || !timingSafeEqual(Buffer.from(named), Buffer.from(expected))) {
        throw new VerityError('ERR_SVID_INVALID', 'SVID proof refused: csr_sha256 does not match the CSR');
      }
    }
    if (registry.isDenied(tenant, verified.spiffeId)) throw revoked();
    const registration = await registry.find(tenant, verified.spiffeId);
    if (registration === null) throw revoked();
    if (!(await store.workloads.useProofJti(tenant, jtiKey(verified.spiffeId, verified.jti), now() + JTI_MEMORY_MS))) {
      throw new VerityError('ERR_SVID_INVALID', 'SVID proof refused: already used');
    }
    return registration;
  }

  return {
    attest(tenant, request, meta) {
      return audited(tenant, 'workload.attest', meta, () => 'unauthenticated', async () => {
        const attestor = attestors.get(request.attestor);
        if (attestor === undefined) throw new VerityError('ERR_REQUEST_INVALID', `unknown attestor "${request.attestor}"`);
        // The CSR first: a bad one must not use up a one-time join token.
        const csr = await verifyCsr(request.csr);
        const { registrationId } = await attestor.attest(tenant, request.evidence);
        const registration = await store.workloads.getRegistration(tenant, registrationId);
        const refused = () => new VerityError(attestor.type === 'join_token' ? 'ERR_JOIN_TOKEN_INVALID' : 'ERR_ATTESTATION_FAILED', 'the evidence does not attest a registered workload');
        // A token minted for a registration attests with that registration's attestor only.
        if (registration === null || registration.attestor !== attestor.type) throw refused();
        return issue(tenant, registration, csr.publicKeyPem, refused);
      });
    },

    renew(tenant, request, meta) {
      let who = 'unauthenticated';
      return audited(tenant, 'workload.renew', meta, () => who, async () => {
        const csr = await verifyCsr(request.csr);
        const registration = await proven(tenant, request.proof, 'renew', (id) => (who = id), csr.der);
        return issue(tenant, registration, csr.publicKeyPem, revoked);
      });
    },

    jwtSvid(tenant, request, meta) {
      let who = 'unauthenticated';
      return audited(tenant, 'workload.jwt-svid', meta, () => who, async () => {
        const registration = await proven(tenant, request.proof, 'jwt-svid', (id) => (who = id));
        const issued = await signRecorded(
          tenant,
          registration,
          revoked,
          (signers) => issueJwtSvid({ authority: signers.jwt, spiffeId: registration.spiffeId, audience: request.audience, ttlSec: registration.jwtTtlSec, now }),
          (signers) => ({ jwt: signers.jwt.kid }),
        );
        return { token: issued.token, expiresAtMs: issued.expiresAtMs };
      });
    },
  };
}
