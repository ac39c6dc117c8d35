/** A token-service question (may this client exchange, may this workload have a Txn-Token) put to the tenant's own Cedar policy. */
import type { CedarRequest, DecisionMeta } from '@verity/core';
import type { DecisionService } from '../decision-service.js';

/** True when the tenant's active policy allows `request`; the decision is audited like any other. */
export async function policyAllows(decisions: DecisionService, tenant: string, request: CedarRequest, meta: DecisionMeta): Promise<boolean> {
  const record = await decisions.decide({ tenant, request: { kind: 'cedar', request }, meta });
  return record.decision === 'allow';
}
