/** A token-service question (may this client exchange, may this workload have a Txn-Token) put to the tenant's own Cedar policy. */
import { isVerityError, VerityError, type CedarRequest, type DecisionMeta } from '@verity/core';
import type { DecisionService } from '../decision-service.js';

/**
 * True when the tenant's active policy allows `request`; the decision is audited like any other.
 * A request the tenant's policies cannot decide (a type its schema lacks, no active version: a
 * 4xx of the decision) is refused as ERR_STS_EXCHANGE_DENIED (RFC 8693 §2.2.2 `invalid_target`),
 * saying why; an outage (5xx) stays what it is, so the client may try again.
 */
export async function policyAllows(decisions: DecisionService, tenant: string, request: CedarRequest, meta: DecisionMeta): Promise<boolean> {
  try {
    const record = await decisions.decide({ tenant, request: { kind: 'cedar', request }, meta });
    return record.decision === 'allow';
  } catch (error) {
    if (isVerityError(error) && error.status >= 400 && error.status < 500) {
      throw new VerityError('ERR_STS_EXCHANGE_DENIED', `the tenant's policies cannot decide this request (${error.code}: ${error.message})`, { cause: error });
    }
    throw error;
  }
}
