/** Drift between the tiers of one request: the gateway, a service and the data tier disagreeing. */
import type { AuditEvent } from '@verity/core';

/** One tier's decision on a request. */
export interface TierReport {
  tier: string | null;
  decision: 'allow' | 'deny';
  policyVersion: number;
  decisionId: string;
}

/** The tiers that decided one request, and whether they disagree. */
export interface RequestDrift {
  requestId: string;
  tiers: TierReport[];
  /** The tiers decided on different policy versions. */
  versionDrift: boolean;
  /** The tiers decided differently. */
  decisionDrift: boolean;
}

/** The tiers of each request id decided more than once, and whether they disagree on policy version or decision. */
export function findDrift(events: readonly AuditEvent[]): RequestDrift[] {
  const byRequest = new Map<string, TierReport[]>();
  for (const event of events) {
    // Version 0 is a refusal before any policy was asked (a bad credential or token).
    if (!event.requestId || event.policyVersion === 0) continue;
    const tiers = byRequest.get(event.requestId) ?? [];
    tiers.push({ tier: event.tier, decision: event.decision, policyVersion: event.policyVersion, decisionId: event.decisionId });
    byRequest.set(event.requestId, tiers);
  }
  return [...byRequest]
    .filter(([, tiers]) => tiers.length > 1)
    .map(([requestId, tiers]) => ({
      requestId,
      tiers,
      versionDrift: new Set(tiers.map((t) => t.policyVersion)).size > 1,
      decisionDrift: new Set(tiers.map((t) => t.decision)).size > 1,
    }));
}
