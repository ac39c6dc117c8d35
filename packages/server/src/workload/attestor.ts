/** How a workload proves, without an SVID yet, which registration it is: the attestor port and the join-token attestor. */
import { VerityError } from '@verity/core';
import type { Store } from '@verity/store';
import { hashJoinToken, isJoinToken } from './registry-service.js';

/**
 * An attestor turns a workload's evidence into the registration it proves. Untrusted evidence
 * that proves nothing is an error (ERR_JOIN_TOKEN_INVALID, ERR_ATTESTATION_FAILED), never null.
 */
export interface Attestor {
  /** The `attestor` name requests and registrations use (`join_token`, `k8s_psat`). */
  readonly type: string;
  attest(tenant: string, evidence: Record<string, unknown>): Promise<{ registrationId: string }>;
}

/** One code for an unknown, used or expired token: the answer tells an attacker nothing. */
export function joinTokenInvalid(): VerityError {
  return new VerityError('ERR_JOIN_TOKEN_INVALID', 'the join token is not valid (unknown, used or expired)');
}

/**
 * The built-in attestor: evidence `{join_token}`, a one-time token an admin minted for one
 * registration. Using it is one atomic statement, so of two concurrent uses one fails.
 */
export function createJoinTokenAttestor(options: { store: Store; now?: () => number }): Attestor {
  const now = options.now ?? Date.now;
  return {
    type: 'join_token',
    async attest(tenant, evidence) {
      const token = evidence.join_token;
      if (!isJoinToken(token)) throw joinTokenInvalid();
      const registrationId = await options.store.workloads.consumeJoinToken(tenant, hashJoinToken(token), now());
      if (registrationId === null) throw joinTokenInvalid();
      return { registrationId };
    },
  };
}
