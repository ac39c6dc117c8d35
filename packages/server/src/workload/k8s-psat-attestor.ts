/**
 * The Kubernetes projected service-account token attestor (`k8s_psat`): evidence `{token}`, a
 * pod's service-account token for the audience the tenant configured (setting `k8s_psat`). It is
 * verified by the identity package's token verifier (jose; RS256 or ES256 only) against the
 * cluster issuer's keys (OIDC discovery → `jwks_uri`, fetched through the server's guarded
 * source fetch), checking iss, aud and exp; its `kubernetes.io` claim gives the selectors
 * `k8s:ns:`, `k8s:sa:`, `k8s:pod-name:` and `k8s:pod-uid:`, and exactly one `k8s_psat`
 * registration whose selectors are all among them must match.
 */
import { isPlainObject, isVerityError, VerityError } from '@verity/core';
import { createTokenVerifier, type AsymmetricAlgorithm, type FetchFunction, type IdentitySource } from '@verity/identity';
import type { Store } from '@verity/store';
import type { Attestor } from './attestor.js';

export interface K8sPsatAttestorOptions {
  store: Store;
  /** The guarded fetch of identity sources (https and public addresses only unless the server allows otherwise). */
  fetch: FetchFunction;
  now?: () => number;
}

/** Kubernetes signs service-account tokens with RS256 (or ES256 with an EC signing key). */
const ALGORITHMS: AsymmetricAlgorithm[] = ['RS256', 'ES256'];
const CLOCK_TOLERANCE_SEC = 30;
/** RFC 1123 label (namespaces) and DNS subdomain (service accounts, pods), as Kubernetes names them. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const UID = /^[A-Za-z0-9-]{1,64}$/;

function failed(why: string, cause?: unknown): VerityError {
  // The reason is for the log (cause); the client learns only that attestation failed.
  return new VerityError('ERR_ATTESTATION_FAILED', 'the Kubernetes service-account token does not attest a registered workload', { cause: cause ?? new Error(why) });
}

/** The selectors a verified token's claims prove, or ERR_ATTESTATION_FAILED. */
function selectorsOf(payload: Record<string, unknown>): Set<string> {
  const k8s = payload['kubernetes.io'];
  if (!isPlainObject(k8s) || !isPlainObject(k8s.serviceaccount)) throw failed('no kubernetes.io claim');
  const namespace = k8s.namespace;
  const account = k8s.serviceaccount.name;
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace) || typeof account !== 'string' || !OBJECT_NAME.test(account)) throw failed('bad namespace or service account');
  // The subject Kubernetes sets must agree with the claim the selectors come from.
  if (payload.sub !== `system:serviceaccount:${namespace}:${account}`) throw failed('sub does not match the kubernetes.io claim');
  const selectors = new Set([`k8s:ns:${namespace}`, `k8s:sa:${account}`]);
  const pod = k8s.pod;
  if (isPlainObject(pod)) {
    if (typeof pod.name === 'string' && OBJECT_NAME.test(pod.name)) selectors.add(`k8s:pod-name:${pod.name}`);
    if (typeof pod.uid === 'string' && UID.test(pod.uid)) selectors.add(`k8s:pod-uid:${pod.uid}`);
  }
  return selectors;
}

export function createK8sPsatAttestor(options: K8sPsatAttestorOptions): Attestor {
  const { store } = options;
  const now = options.now ?? Date.now;
  // Discovery documents and key sets are cached per issuer, shared by every tenant naming it.
  const verifier = createTokenVerifier({ fetch: options.fetch, now });

  return {
    type: 'k8s_psat',
    async attest(tenant, evidence) {
      const token = evidence.token;
      if (typeof token !== 'string' || token === '') throw failed('no token');
      const config = (await store.tenants.get(tenant))?.settings.k8s_psat;
      if (config === undefined) throw new VerityError('ERR_ATTESTATION_FAILED', 'this tenant has no Kubernetes cluster configured (setting k8s_psat)');
      const source: IdentitySource = {
        id: 'k8s_psat',
        tenant,
        issuer: config.issuer,
        keys: { kind: 'discovery' },
        audiences: [config.audience],
        algorithms: ALGORITHMS,
        clockToleranceSec: CLOCK_TOLERANCE_SEC,
        // Only `claims` of the verified token is read: this mapping is never used for a decision.
        claims: { principalType: 'Workload', clientPrincipalType: 'Workload', idClaim: 'sub', groupType: 'Group', attributes: {}, context: {} },
      };
      let claims: Record<string, unknown>;
      try {
        ({ claims } = await verifier.verify(token, [source]));
      } catch (error) {
        // An unreachable issuer is not the workload's fault: 503, so it retries.
        if (isVerityError(error) && error.code === 'ERR_IDENTITY_SOURCE_UNAVAILABLE') throw error;
        throw failed('the token does not verify', error);
      }
      const proven = selectorsOf(claims);
      const matches = (await store.workloads.listRegistrations(tenant)).filter((w) => w.attestor === 'k8s_psat' && w.selectors.every((s) => proven.has(s)));
      if (matches.length !== 1) throw failed(matches.length === 0 ? 'no registration matches' : 'several registrations match');
      return { registrationId: (matches[0] as { id: string }).id };
    },
  };
}
