/**
 * The calling workload of a decision: `context.caller`, the SPIFFE id a PEP verified on the
 * connection (mTLS peer, or a trusted proxy's header), goes to the audit; a decision whose caller
 * or `Workload` principal was deregistered is a deny, whatever the policies say (its live SVIDs
 * are refused at once, not only refused renewal).
 */
import { buildDecisionRecord, VerityError, type DecisionRecord, type DecisionRequest } from '@verity/core';

/** What the gate asks of the workload registry: a synchronous, exact answer from its cache. */
export interface WorkloadDenyList {
  /** True when `spiffeId` belongs to a workload of `tenant` that was removed and may still hold a live SVID. */
  isDenied(tenant: string, spiffeId: string): boolean;
}

/** The Cedar entity type of a workload principal (`Workload::"spiffe://…"`). */
export const WORKLOAD_TYPE = 'Workload';

/**
 * The shape of a SPIFFE id (SPIFFE-ID §2: lowercase trust domain, path segments of
 * `[A-Za-z0-9._-]`, none `.` or `..`). The PEP verified the certificate; this keeps anything else
 * out of the policies and the audit.
 */
export function isSpiffeIdText(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 2048 && /^spiffe:\/\/[a-z0-9._-]+(\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)*$/.test(value);
}

/** What a PEP said about the calling workload: its SPIFFE id, and whether a caller header was forged. */
export interface CallerClaim {
  /** The verified peer's SPIFFE id; undefined when absent or null (an unauthenticated caller). */
  caller: string | undefined;
  /**
   * `context.caller_forged: true`: the request carried a caller header (`x-forwarded-client-cert`)
   * from a peer that is not a trusted proxy. The PEP ignored the header; the decision is a deny.
   */
  forged: boolean;
}

/**
 * The request's `context.caller` (a SPIFFE id string, null or absent) and `context.caller_forged`
 * (a boolean or absent). Throws ERR_REQUEST_INVALID for anything else, so a malformed caller never
 * reaches the policies as if it were proven.
 */
export function callerOf(request: DecisionRequest): CallerClaim {
  const context = request.request.context as Record<string, unknown> | undefined;
  const caller = context?.caller;
  const forged = context?.caller_forged;
  if (forged !== undefined && typeof forged !== 'boolean') throw new VerityError('ERR_REQUEST_INVALID', 'context.caller_forged must be a boolean');
  if (caller === undefined || caller === null) return { caller: undefined, forged: forged === true };
  if (!isSpiffeIdText(caller)) {
    throw new VerityError('ERR_REQUEST_INVALID', 'context.caller must be the calling workload\'s SPIFFE id (spiffe://trust-domain/path) or null');
  }
  return { caller, forged: forged === true };
}

/**
 * Refuse a request that names `context.txn` itself (ERR_DECISION_INVALID_REQUEST): that entry is
 * the PDP's, set from a verified Txn-Token, and then `meta.txn` says so. Checked where every
 * decision passes (AuthZEN, Cedar-native, search), so no endpoint can carry a forged one.
 */
export function assertTxnFromToken(request: DecisionRequest, meta: { txn?: string }): void {
  const context = request.request.context as Record<string, unknown> | undefined;
  if (meta.txn === undefined && context !== undefined && context !== null && Object.hasOwn(context, 'txn')) {
    throw new VerityError('ERR_DECISION_INVALID_REQUEST', 'context.txn is set by the PDP from a verified Txn-Token (options.verity_txn_token), never by the request');
  }
}

/**
 * The record as decided, or a deny in its place when its caller or its `Workload` principal is
 * deregistered, or a caller header was forged: reasons empty, the refusal as an error of the
 * pseudo-policy `verity:workload`.
 */
export function refuseDeregistered(record: DecisionRecord, denyList: WorkloadDenyList | undefined, time: number, forged = false): DecisionRecord {
  const principal = record.principal.type === WORKLOAD_TYPE ? record.principal.id : undefined;
  const denied = denyList === undefined ? undefined : [record.caller, principal].find((id) => id !== undefined && denyList.isDenied(record.tenant, id));
  if (denied === undefined && !forged) return record;
  const message = forged
    ? 'a caller header (x-forwarded-client-cert) came from a peer that is not a trusted proxy'
    : `the workload ${(denied as string).slice(0, 300)} is deregistered: its SVIDs are refused`;
  const refused = buildDecisionRecord({
    tenant: record.tenant,
    principal: record.principal,
    action: record.action,
    resource: record.resource,
    decision: 'deny',
    reasons: [],
    errors: [{ policyId: 'verity:workload', message }],
    policyVersion: record.policyVersion,
    meta: {
      requestId: record.requestId,
      tier: record.tier,
      ...(record.observed ? { observed: true } : {}),
      ...(record.caller === undefined ? {} : { caller: record.caller }),
      ...(record.txn === undefined ? {} : { txn: record.txn }),
      ...(record.actors === undefined ? {} : { actors: record.actors }),
    },
    time,
    latencyUs: record.latencyUs,
  });
  return refused;
}
