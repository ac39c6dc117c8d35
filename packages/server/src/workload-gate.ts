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

/**
 * The request's `context.caller`: a SPIFFE id string, or undefined when absent or null (an
 * unauthenticated caller). Throws ERR_REQUEST_INVALID for anything else, so a malformed caller
 * never reaches the policies as if it were proven.
 */
export function callerOf(request: DecisionRequest): string | undefined {
  const context = request.request.context as Record<string, unknown> | undefined;
  const caller = context?.caller;
  if (caller === undefined || caller === null) return undefined;
  if (!isSpiffeIdText(caller)) {
    throw new VerityError('ERR_REQUEST_INVALID', 'context.caller must be the calling workload\'s SPIFFE id (spiffe://trust-domain/path) or null');
  }
  return caller;
}

/**
 * The record as decided, or a deny in its place when its caller or its `Workload` principal is
 * deregistered: reasons empty, the refusal as an error of the pseudo-policy `verity:workload`.
 */
export function refuseDeregistered(record: DecisionRecord, denyList: WorkloadDenyList | undefined, time: number): DecisionRecord {
  if (denyList === undefined) return record;
  const principal = record.principal.type === WORKLOAD_TYPE ? record.principal.id : undefined;
  const denied = [record.caller, principal].find((id) => id !== undefined && denyList.isDenied(record.tenant, id));
  if (denied === undefined) return record;
  const refused = buildDecisionRecord({
    tenant: record.tenant,
    principal: record.principal,
    action: record.action,
    resource: record.resource,
    decision: 'deny',
    reasons: [],
    errors: [{ policyId: 'verity:workload', message: `the workload ${denied.slice(0, 300)} is deregistered: its SVIDs are refused` }],
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
