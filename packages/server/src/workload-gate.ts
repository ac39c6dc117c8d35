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

/** What the gate checks a decided record against. */
export interface GateFacts {
  denyList: WorkloadDenyList | undefined;
  /** The clock (epoch milliseconds), read only for the record that replaces a refused one. */
  now: () => number;
  /** The PEP reported a forged caller header (`context.caller_forged`). */
  forged?: boolean;
  /**
   * The verified Txn-Token's `sub` (`context.txn.sub`), when the request carried one: a principal
   * other than a `Workload` must be that subject, or the Txn-Token belongs to another call chain.
   */
  txnSubject?: string;
}

/**
 * The record as decided, or a deny in its place when its caller or its `Workload` principal is
 * deregistered, a caller header was forged (errors of the pseudo-policy `verity:workload`), or
 * the Txn-Token names another subject than the principal (`verity:txn`); reasons empty.
 */
export function refuseUnproven(record: DecisionRecord, facts: GateFacts): DecisionRecord {
  const { denyList } = facts;
  const principal = record.principal.type === WORKLOAD_TYPE ? record.principal.id : undefined;
  const denied = denyList === undefined ? undefined : [record.caller, principal].find((id) => id !== undefined && denyList.isDenied(record.tenant, id));
  const otherSubject = facts.txnSubject !== undefined && principal === undefined && record.principal.id !== facts.txnSubject;
  let error: { policyId: string; message: string };
  if (facts.forged === true) error = { policyId: 'verity:workload', message: 'a caller header (x-forwarded-client-cert) came from a peer that is not a trusted proxy' };
  else if (denied !== undefined) error = { policyId: 'verity:workload', message: `the workload ${denied.slice(0, 300)} is deregistered: its SVIDs are refused` };
  else if (otherSubject) error = { policyId: 'verity:txn', message: 'the Txn-Token is for another subject than the principal' };
  else return record;
  return buildDecisionRecord({
    tenant: record.tenant,
    principal: record.principal,
    action: record.action,
    resource: record.resource,
    decision: 'deny',
    reasons: [],
    errors: [error],
    policyVersion: record.policyVersion,
    meta: {
      requestId: record.requestId,
      tier: record.tier,
      ...(record.observed ? { observed: true } : {}),
      ...(record.caller === undefined ? {} : { caller: record.caller }),
      ...(record.txn === undefined ? {} : { txn: record.txn }),
      ...(record.actors === undefined ? {} : { actors: record.actors }),
      ...(record.risk === undefined ? {} : { risk: record.risk }),
    },
    time: facts.now(),
    latencyUs: record.latencyUs,
  });
}

/** The verified Txn-Token's `sub` the PDP put in `context.txn` (only when `meta.txn` says one was verified). */
export function txnSubjectOf(request: DecisionRequest, meta: { txn?: string }): string | undefined {
  if (meta.txn === undefined) return undefined;
  const txn = (request.request.context as Record<string, unknown> | undefined)?.txn;
  const sub = typeof txn === 'object' && txn !== null ? (txn as Record<string, unknown>).sub : undefined;
  return typeof sub === 'string' ? sub : undefined;
}
