/**
 * Replay (issue 14, docs/policy-rollout.md "Replay"): a candidate policy version, stored but not
 * active or a folder not stored at all, decided again on the tenant's recorded decisions, to list
 * every decision it would flip before anyone activates it.
 *
 * Each recorded decision is made twice through core's one decision pipeline, from the input its
 * audit record kept (context, request-time entities, `context.risk`) and the entities the store
 * holds now: once on the version that recorded it, once on the candidate. A flip is counted only
 * when the first reproduces what was recorded; when it does not (an entity changed since, a
 * record made before inputs were kept), the decision is counted as unreproducible instead of
 * being reported as a flip the candidate did not cause. Nothing is audited or stored.
 */
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import {
  buildPolicyStoreContent,
  createDecisionPipeline,
  formatEntityUid,
  hashPolicyContent,
  isVerityError,
  parseDecisionInput,
  VerityError,
  type AuditEvent,
  type DecisionMeta,
  type Engine,
  type PolicyFilesInput,
  type PolicyView,
  type PreparedPolicySet,
  type RecordedDecisionInput,
} from '@verity/core';
import type { AuditService } from './audit-service.js';
import type { EntityService } from './entity-service.js';
import type { PolicyService } from './policy-service.js';

/** The most recorded decisions one replay reads (the default is {@link DEFAULT_REPLAY_LIMIT}). */
export const MAX_REPLAY_LIMIT = 100_000;
export const DEFAULT_REPLAY_LIMIT = 10_000;
/** The most flips a report lists (all are counted). */
export const MAX_REPLAY_FLIPS = 1_000;
/** Replays one process runs at once (one per tenant): replay is CPU work beside live decisions, and no tenant may take more of it. */
export const MAX_CONCURRENT_REPLAYS = 2;
/** Audit rows read per page. */
const PAGE = 500;
/**
 * Records handled (decided, skipped or read) between two yields to the event loop, at most, and
 * the longest a run between yields may take (ms): a replay never holds up live decisions for long.
 */
const SLICE = 25;
const SLICE_MS = 5;

/** Which policies the recorded decisions are replayed on. */
export type ReplayCandidate = { version: number } | { files: PolicyFilesInput };

export interface ReplayRequest {
  /** Epoch ms: decisions recorded at or after it. */
  since: number;
  /** The most recorded decisions to read (1..{@link MAX_REPLAY_LIMIT}). */
  limit: number;
  candidate: ReplayCandidate;
  /**
   * Compare the candidate with this stored version instead of with what was recorded
   * (`verity policy diff --replay A B`): a flip is then a decision the two versions make
   * differently on a recorded input the recording version still reproduces.
   */
  baseline?: { version: number };
}

/** One answer of a replayed decision. `error`: the request could not be decided as asked (a refusal: the caller gets no allow). */
export interface ReplayAnswer {
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: Array<{ policyId: string; message: string }>;
  error?: string;
}

/** A recorded decision the candidate decides otherwise. */
export interface ReplayFlip {
  decisionId: string;
  seq: number;
  time: string;
  tier: string | null;
  /** `Type::"id"`. */
  principal: string;
  action: string;
  resource: string;
  recorded: { decision: 'allow' | 'deny'; policyVersion: number; reasons: string[] };
  /** The baseline version's answer, when the replay has a baseline. */
  baseline?: ReplayAnswer;
  candidate: ReplayAnswer;
}

/** What a replay found (docs/http-api.md "Replay"). */
export interface ReplayReport {
  tenant: string;
  /** ISO-8601: the window's start. */
  since: string;
  /** The candidate: a stored version's number, or null for policies not stored; its content hash. */
  candidate: { version: number | null; hash: string };
  /** The version the candidate is compared with; null: with what was recorded. */
  baseline: { version: number; hash: string } | null;
  /** Recorded decisions read. */
  examined: number;
  /** Decided again on both versions (the rest were skipped or unreproducible). */
  replayed: number;
  /** Records replay cannot decide again: no recorded input (refusals, records older than inputs, an omitted oversized input) or no policy version. */
  skipped: number;
  /** Records the version that made them no longer decides as recorded (the entities changed since). */
  unreproducible: number;
  /** How many flips in all; `flips` lists the first {@link MAX_REPLAY_FLIPS}. */
  flipped: number;
  flips: ReplayFlip[];
  /** True when `limit` stopped the reading before the window's end. */
  truncated: boolean;
}

export interface ReplayService {
  /**
   * Replay the tenant's decisions recorded since `request.since` on the candidate. Throws
   * ERR_TENANT_NOT_FOUND, ERR_POLICY_VERSION_NOT_FOUND (a candidate version the tenant does not
   * have), the push's errors for candidate files that do not parse or validate
   * (ERR_POLICY_PARSE, ERR_POLICY_VALIDATION: 422), ERR_STORE_UNAVAILABLE, and ERR_OVERLOADED
   * (503) while the tenant's last replay is still running here or {@link MAX_CONCURRENT_REPLAYS}
   * are.
   */
  replay(tenant: string, request: ReplayRequest): Promise<ReplayReport>;
}

export interface ReplayServiceOptions {
  engine: Engine;
  policies: Pick<PolicyService, 'active' | 'prepared'>;
  entities: Pick<EntityService, 'getMany'>;
  auditLog: Pick<AuditService, 'query'>;
}

/**
 * The engine lane replay prepares every version in (`<tenant>~replay@<hash>`): a recorded input
 * that trips the engine strikes this lane, never the one the tenant's live decisions run in.
 */
const REPLAY_LANE = 'replay';

/** Replays are no one's access: their records are never audited, and carry no request id or tier. */
const REPLAY_META: DecisionMeta = Object.freeze({ requestId: null, tier: null });

export function createReplayService(options: ReplayServiceOptions): ReplayService {
  const { engine } = options;
  const pipeline = createDecisionPipeline({ engine });

  async function candidateOf(tenant: string, candidate: ReplayCandidate): Promise<{ version: number | null; hash: string; prepared: PreparedPolicySet }> {
    if ('version' in candidate) {
      const found = await options.policies.prepared(tenant, candidate.version, REPLAY_LANE);
      return { version: found.version, hash: found.hash, prepared: found.prepared };
    }
    const content = await buildPolicyStoreContent(engine, candidate.files);
    const hash = hashPolicyContent(content);
    // Its own engine lane, as the playground's drafts: a candidate never evicts the active set.
    return { version: null, hash, prepared: await engine.prepare(`${tenant}~${REPLAY_LANE}@${hash.slice(0, 16)}`, content) };
  }

  /** The tenants whose replay is running in this process. */
  const running = new Set<string>();

  return {
    async replay(tenant, request) {
      // Taken before anything is awaited: a second call, however soon, sees the first.
      if (running.has(tenant) || running.size >= MAX_CONCURRENT_REPLAYS) {
        throw new VerityError('ERR_OVERLOADED', running.has(tenant) ? `a replay of tenant "${tenant}" is already running: try again when it ends` : `${MAX_CONCURRENT_REPLAYS} replays are running: try again later`);
      }
      running.add(tenant);
      try {
        return await replayOnce(tenant, request);
      } finally {
        running.delete(tenant);
      }
    },
  };

  async function replayOnce(tenant: string, request: ReplayRequest): Promise<ReplayReport> {
    // The tenant's settings (type mapping, request validation) as they are now: both sides use them.
    const { tenant: stored } = await options.policies.active(tenant);
    const candidate = await candidateOf(tenant, request.candidate);
    const since = new Date(request.since).toISOString();
    const settings = stored.settings;
    const candidateView: PolicyView = { tenant, version: candidate.version ?? 0, settings, prepared: candidate.prepared };
    const baseline = request.baseline === undefined ? null : await options.policies.prepared(tenant, request.baseline.version, REPLAY_LANE);
    const baselineView: PolicyView | null = baseline === null ? null : { tenant, version: baseline.version, settings, prepared: baseline.prepared };
    const recordedViews = new Map<number, Promise<PolicyView>>();
    const recordedView = (version: number): Promise<PolicyView> => {
      let view = recordedViews.get(version);
      if (view === undefined) {
        view = options.policies.prepared(tenant, version, REPLAY_LANE).then((found) => ({ tenant, version, settings, prepared: found.prepared }));
        recordedViews.set(version, view);
      }
      return view;
    };
    const lookup = (uids: Parameters<EntityService['getMany']>[1]) => options.entities.getMany(tenant, uids);
    const decideOn = async (view: PolicyView, event: AuditEvent, input: RecordedDecisionInput): Promise<ReplayAnswer> => {
      try {
        const record = await pipeline.decide(view, { kind: 'recorded', principal: event.principal, action: event.action, resource: event.resource, input }, lookup, REPLAY_META);
        return { decision: record.decision, reasons: record.reasons, errors: record.errors };
      } catch (error) {
        // A request the version refuses (a type it does not declare, a limit): no allow.
        if (isVerityError(error) && error.status < 500) return { decision: 'deny', reasons: [], errors: [], error: error.code };
        throw error;
      }
    };

    const report: ReplayReport = {
      tenant,
      since,
      candidate: { version: candidate.version, hash: candidate.hash },
      baseline: baseline === null ? null : { version: baseline.version, hash: baseline.hash },
      examined: 0,
      replayed: 0,
      skipped: 0,
      unreproducible: 0,
      flipped: 0,
      flips: [],
      truncated: false,
    };
    let after = 0;
    let sinceYield = 0;
    let lastYield = performance.now();
    for (;;) {
      // One more than the limit leaves, to tell a window that ends there from one cut short.
      const want = Math.min(PAGE, request.limit - report.examined + 1);
      const { events: page } = await options.auditLog.query(tenant, { after, since, limit: want });
      for (const event of page) {
        // Every record counts, skipped ones too (reading an input is work), and so does time.
        if (++sinceYield === SLICE || performance.now() - lastYield > SLICE_MS) {
          sinceYield = 0;
          await yieldToEvents();
          lastYield = performance.now();
        }
        if (report.examined === request.limit) {
          report.truncated = true;
          return report;
        }
        report.examined += 1;
        after = event.seq;
        const input = event.policyVersion > 0 ? parseDecisionInput(event.input) : null;
        if (input === null) {
          report.skipped += 1;
          continue;
        }
        let view: PolicyView;
        try {
          view = await recordedView(event.policyVersion);
        } catch (error) {
          if (isVerityError(error) && error.code === 'ERR_POLICY_VERSION_NOT_FOUND') {
            report.skipped += 1;
            continue;
          }
          throw error;
        }
        const reproduced = await decideOn(view, event, input);
        if (reproduced.error !== undefined || reproduced.decision !== event.decision) {
          report.unreproducible += 1;
        } else {
          report.replayed += 1;
          const before = baselineView === null ? undefined : await decideOn(baselineView, event, input);
          const answer = await decideOn(candidateView, event, input);
          if (answer.decision !== (before?.decision ?? event.decision)) {
            report.flipped += 1;
            if (report.flips.length < MAX_REPLAY_FLIPS) report.flips.push(flipOf(event, answer, before));
          }
        }
      }
      if (page.length < want) return report;
    }
  }
}

function flipOf(event: AuditEvent, candidate: ReplayAnswer, baseline: ReplayAnswer | undefined): ReplayFlip {
  const flip: ReplayFlip = {
    decisionId: event.decisionId,
    seq: event.seq,
    time: event.time,
    tier: event.tier,
    principal: formatEntityUid(event.principal),
    action: formatEntityUid(event.action),
    resource: formatEntityUid(event.resource),
    recorded: { decision: event.decision, policyVersion: event.policyVersion, reasons: event.reasons },
    candidate,
  };
  if (baseline !== undefined) flip.baseline = baseline;
  return flip;
}
