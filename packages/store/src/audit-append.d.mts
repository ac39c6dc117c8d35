/** Types of audit-append.mjs (plain JavaScript, run by the drivers' threads and by audit-repository.ts). */
import type { DecisionRecord, EntityUid } from '@verity/core';

export interface AuditQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: readonly unknown[] }>;
}

/** The `code` of the error {@link appendAuditRecords} throws for a tenant that does not exist (its `tenant` names it). */
export declare const TENANT_NOT_FOUND: 'ERR_TENANT_NOT_FOUND';

/**
 * Append `records`, each tenant's in one transaction of `transaction` under its chain-head
 * lock; with `skipExisting`, records whose decisionId the chain already holds are dropped.
 */
export declare function appendAuditRecords(
  transaction: (work: (tx: AuditQueryable) => Promise<void>) => Promise<void>,
  records: readonly DecisionRecord[],
  skipExisting: boolean,
): Promise<void>;

/** `{type, id}` of a uid; anything else keeps whatever it holds, so its hash fails. */
export declare function uid(value: unknown): EntityUid;
