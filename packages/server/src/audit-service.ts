/**
 * Reading and checking tenants' audit: queries, chain verification, drift between the tiers
 * of a request, and decisions PEPs made in-process and shipped here (at least once).
 */
import { checkAuditCheckpoint, createAuditChainVerifier, VerityError, type AuditEvent, type AuditProblem, type DecisionRecord } from '@verity/core';
import { verifyAuditCheckpoint, type CheckpointKey } from '@verity/identity';
import type { AuditQuery, ObservedDenials, Store, WorkloadCall } from '@verity/store';
import type { AuditWriter } from './audit-writer.js';
import { findDrift, type RequestDrift } from './audit-drift.js';
import { parsePepRecords } from './pep-decision-records.js';
import { requireAuditedTenant, requireTenant } from './require-tenant.js';

/** Records the chain is read in, per query (keyset on seq, never OFFSET). */
const CHAIN_PAGE = 250;
/** Records hashed between two turns of the event loop (a few milliseconds of work). */
const HASH_SLICE = 50;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface AuditService {
  /** Events of the tenant after `query.after`, oldest first, and the cursor of the next page (null at the end). */
  query(tenant: string, query: AuditQuery): Promise<{ events: AuditEvent[]; next: number | null }>;
  /**
   * Re-check the tenant's whole hash chain up to its stored head: every event's hash and link,
   * that the chain ends at the head (newest events deleted or rewritten), and that it still
   * holds the head of the tenant's latest stored signed checkpoint.
   */
  verify(tenant: string): Promise<{ ok: boolean; checked: number; problems: readonly AuditProblem[] }>;
  /**
   * The tiers that decided one request (with `requestId`), or the requests that drift among
   * `limit` events after `after`.
   */
  drift(tenant: string, query: { requestId?: string; after?: number; limit: number }): Promise<{ requests: RequestDrift[]; next: number | null }>;
  /**
   * Decisions a PEP made locally, reported by `reporter` (a PEP credential bound to `tenant`):
   * each record is marked `reportedBy` the credential id; a record whose decision id the chain
   * holds is skipped.
   */
  ingest(tenant: string, records: unknown, reporter: { id: string }): Promise<{ accepted: number }>;
  /** Who calls whom (the migration inventory): caller SPIFFE id → callee tier → action, with counts and when last seen. */
  workloadCalls(tenant: string, limit: number): Promise<{ calls: WorkloadCall[] }>;
  /**
   * The observe report: what PEPs in observe mode recorded as denies (not enforced) since
   * `since` (epoch ms), grouped by tier, action and resource, largest first (docs/policy-rollout.md).
   */
  observeReport(tenant: string, options: { since: number; limit: number }): Promise<{ since: string; groups: ObservedDenials[] }>;
}

/** Options of {@link createAuditService}. */
export interface AuditServiceOptions {
  /** Told of the records a PEP reported, once stored (metrics). */
  onIngested?: (records: readonly DecisionRecord[]) => void;
}

export function createAuditService(store: Store, writer: AuditWriter, options: AuditServiceOptions = {}): AuditService {
  /**
   * What the tenant's latest stored checkpoint states. One whose signature verifies with no
   * stored key was not made by Verity: it is reported as a mismatch at its seq.
   */
  async function storedCheckpoint(tenant: string): Promise<{ seq: number; hash: string; forged: boolean } | null> {
    const stored = await store.audit.latestCheckpoint(tenant);
    if (!stored) return null;
    for (const key of await store.audit.loadCheckpointKeys()) {
      try {
        const stated = await verifyAuditCheckpoint(stored.jws, key.publicJwk as CheckpointKey['publicJwk']);
        if (stated.tenant === tenant) return { seq: stated.seq, hash: stated.hash, forged: false };
      } catch (error) {
        if (!(error instanceof VerityError)) throw error;
      }
    }
    return { seq: stored.seq, hash: stored.hash, forged: true };
  }

  /** Read your own writes: what this replica decided is written before it is read. */
  /** A tenant's audit, once written so far: also a deleted tenant's, which is kept. */
  async function settled(tenant: string): Promise<void> {
    await requireAuditedTenant(store, tenant);
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
      // The head is read first: events appended while the chain is read lie past it and wait for the next check.
      const head = await store.audit.head(tenant);
      const checkpoint = await storedCheckpoint(tenant);
      const verifier = createAuditChainVerifier();
      let atCheckpoint: AuditEvent | undefined;
      let reading = head.seq > 0 ? store.audit.readChain(tenant, 0, CHAIN_PAGE) : null;
      while (reading !== null) {
        const page = await reading;
        const last = page.at(-1);
        // The next page is read (on the store's thread or server) while this one is hashed.
        reading = last !== undefined && page.length === CHAIN_PAGE && last.seq < head.seq ? store.audit.readChain(tenant, last.seq, CHAIN_PAGE) : null;
        reading?.catch(() => {}); // Awaited at the next turn; hashing must not leave it unhandled meanwhile.
        const chunk = page.filter((event) => event.seq <= head.seq);
        atCheckpoint ??= chunk.find((event) => event.seq === checkpoint?.seq);
        for (let at = 0; at < chunk.length; at += HASH_SLICE) {
          verifier.push(chunk.slice(at, at + HASH_SLICE));
          // A slice hashed, then the event loop runs: a long chain never holds it.
          await yieldToEventLoop();
        }
      }
      verifier.end(head);
      const problems = [...verifier.problems];
      const lost = checkpoint?.forged ? { seq: checkpoint.seq, kind: 'checkpoint-mismatch' as const } : checkpoint ? checkAuditCheckpoint(atCheckpoint, checkpoint) : null;
      if (lost) problems.push(lost);
      return { ok: problems.length === 0, checked: verifier.checked, problems };
    },

    async drift(tenant, { requestId, after, limit }) {
      await settled(tenant);
      const events = await store.audit.query(tenant, { limit, ...(requestId ? { requestId } : after === undefined ? {} : { after }) });
      const requests = findDrift(events).filter((r) => requestId || r.versionDrift || r.decisionDrift);
      return { requests, next: page(events, limit) };
    },

    async ingest(tenant, records, reporter) {
      const { settings } = await requireTenant(store, tenant);
      const parsed = parsePepRecords(records, tenant, reporter.id);
      // A PEP that has not yet seen the tenant stop recording inputs does not record them either.
      if (settings.recordDecisionInputs === false) for (const record of parsed) delete record.input;
      await writer.flush();
      await store.audit.append(parsed, { skipExisting: true });
      options.onIngested?.(parsed);
      return { accepted: parsed.length };
    },

    async observeReport(tenant, { since, limit }) {
      await settled(tenant);
      const from = new Date(since).toISOString();
      return { since: from, groups: await store.audit.observedDenials(tenant, from, limit) };
    },

    async workloadCalls(tenant, limit) {
      await requireTenant(store, tenant);
      return { calls: await store.audit.workloadCalls(tenant, limit) };
    },
  };
}
