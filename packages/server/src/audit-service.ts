/**
 * Reading and checking tenants' audit: queries, chain verification, drift between the tiers
 * of a request, and decisions PEPs made in-process and shipped here (at least once).
 */
import { createAuditChainVerifier, type AuditEvent, type AuditProblem } from '@verity/core';
import type { AuditQuery, Store } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import { findDrift, type RequestDrift } from './audit-drift.js';
import { parsePepRecords } from './pep-decision-records.js';
import { requireTenant } from './require-tenant.js';

/** Records the chain is read in, per query. */
const CHAIN_PAGE = 1000;

export interface AuditService {
  /** Events of the tenant after `query.after`, oldest first, and the cursor of the next page (null at the end). */
  query(tenant: string, query: AuditQuery): Promise<{ events: AuditEvent[]; next: number | null }>;
  /** Re-check the tenant's whole hash chain. */
  verify(tenant: string): Promise<{ ok: boolean; checked: number; problems: readonly AuditProblem[] }>;
  /**
   * The tiers that decided one request (with `requestId`), or the requests that drift among
   * `limit` events after `after`.
   */
  drift(tenant: string, query: { requestId?: string; after?: number; limit: number }): Promise<{ requests: RequestDrift[]; next: number | null }>;
  /** Decisions a PEP made locally; a record whose decision id the chain holds is skipped. */
  ingest(tenant: string, records: unknown): Promise<{ accepted: number }>;
}

export function createAuditService(store: Store, writer: AuditWriter): AuditService {
  /** Read your own writes: what this replica decided is written before it is read. */
  async function settled(tenant: string): Promise<void> {
    await requireTenant(store, tenant);
    await writer.flush();
  }

  const page = (events: AuditEvent[], limit: number) => {
    const last = events.at(-1);
    return events.length === limit && last ? last.seq : null;
  };

  return {
    async query(tenant, query) {
      await settled(tenant);
      const events = await store.audit.query(tenant, query);
      return { events, next: page(events, query.limit) };
    },

    async verify(tenant) {
      await settled(tenant);
      const verifier = createAuditChainVerifier();
      for (let after = 0; ; ) {
        const chunk = await store.audit.readChain(tenant, after, CHAIN_PAGE);
        verifier.push(chunk);
        const last = chunk.at(-1);
        if (!last || chunk.length < CHAIN_PAGE) break;
        after = last.seq;
      }
      return { ok: verifier.problems.length === 0, checked: verifier.checked, problems: verifier.problems };
    },

    async drift(tenant, { requestId, after, limit }) {
      await settled(tenant);
      const events = await store.audit.query(tenant, { limit, ...(requestId ? { requestId } : after === undefined ? {} : { after }) });
      const requests = findDrift(events).filter((r) => requestId || r.versionDrift || r.decisionDrift);
      return { requests, next: page(events, limit) };
    },

    async ingest(tenant, records) {
      await requireTenant(store, tenant);
      const parsed = parsePepRecords(records, tenant);
      await writer.flush();
      await store.audit.append(parsed, { skipExisting: true });
      return { accepted: parsed.length };
    },
  };
}
