/** Types of audit-append.mjs (plain JavaScript, run by the drivers' threads and by audit-repository.ts). */
import type { DecisionRecord, EntityUid } from '@verity/core';

export interface AuditQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: readonly unknown[] }>;
}

/** The `code` of the error {@link appendAuditRecords} throws for a tenant that does not exist (its `tenant` names it). */
export declare const TENANT_NOT_FOUND: 'ERR_TENANT_NOT_FOUND';

/**
 * Append `records`, each tenant's in one transaction of `transaction` under its chain-head
 * lock; with `skipExisting`, records whose decisionId the chain already holds are dropped. With
 * `known`, a tenant whose head it remembers goes in one statement that checks that head.
 */
export declare function appendAuditRecords(
  transaction: (work: (tx: AuditQueryable) => Promise<void>) => Promise<void>,
  records: readonly DecisionRecord[],
  skipExisting: boolean,
  known?: AuditHeads,
): Promise<void>;

/**
 * The chain heads a driver that runs every append itself remembers, and how it runs one
 * statement outside a transaction: a remembered tenant is appended in one checked statement.
 */
export interface AuditHeads {
  query: AuditQueryable['query'];
  heads: Map<string, { seq: number; hash: string }>;
}

/** `{type, id}` of a uid; anything else keeps whatever it holds, so its hash fails. */
export declare function uid(value: unknown): EntityUid;
