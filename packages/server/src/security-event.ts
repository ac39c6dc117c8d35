/** A refused credential or token, recorded in the audit as a deny (security failures are audited). */
import { buildDecisionRecord, type DecisionMeta, type EntityUid } from '@verity/core';
import type { AuditWriter } from './audit-writer.js';

export interface SecurityEvent {
  tenant: string;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  /** The stable error code of the refusal; it lands in the record's `errors`. */
  code: string;
  /** Which check refused: `authentication` (a Verity credential) or `token` (a user token). */
  check: string;
  meta: DecisionMeta;
  now?: number;
}

export async function recordSecurityEvent(audit: AuditWriter, event: SecurityEvent): Promise<void> {
  const backpressure = audit.enqueue(
    buildDecisionRecord({
      tenant: event.tenant,
      principal: event.principal,
      action: event.action,
      resource: event.resource,
      decision: 'deny',
      reasons: [],
      errors: [{ policyId: event.check, message: event.code }],
      // No policy version decided this: the request never reached the policies.
      policyVersion: 0,
      meta: event.meta,
      time: event.now ?? Date.now(),
      latencyUs: 0,
    }),
  );
  if (backpressure) await backpressure;
}
