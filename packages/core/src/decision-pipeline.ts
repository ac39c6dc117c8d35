/**
 * The one decision pipeline: AuthZEN/Cedar mapping → request-time overlays → type checks →
 * entity slice → engine → decision record. The PDP, the SDK's local mode and `verity policy
 * test` all decide through it, so a fix here holds on every path at once.
 */
import { randomUUID } from 'node:crypto';
import { VerityError } from './errors.js';
import type { Engine, PreparedPolicySet } from './engine.js';
import type { CedarRequest, CedarValue, DecisionRecord, Entity, EntityUid, RecordedRisk, RiskOutcome, TenantSettings } from './types.js';
import { mapEvaluationRequest, type AuthzenEvaluationRequest } from './authzen.js';
import { formatEntityUid, UidMap } from './entity-uid.js';
import { addSharedScan, assertValueDepth, scanValues, sliceEntities, type Slice, type ValueScan } from './entity-slice.js';
import { assertNoDuplicateEntities, resolveWithRequestEntities, type EntityOverlay } from './request-entities.js';
import { observedEntitiesFor } from './policy-analysis.js';
import { storableText } from './wire-format.js';
import { mergeRecords } from './records.js';
import { encodeDecisionInput, type RecordedDecisionInput } from './decision-input.js';
import { ENGINE_COST_US, MAX_BATCH_ESTIMATE_MS, MAX_DECISION_ESTIMATE_MS, MAX_LIKE_WORK } from './limits.js';

/** Who asked, for the audit. */
export interface DecisionMeta {
  requestId: string | null;
  /** The calling tier's label (`X-Verity-Tier`), if any. */
  tier: string | null;
  /** The PEP enforces in observe mode: its denies are recorded but not enforced. */
  observed?: boolean;
  /** The calling workload's SPIFFE id, as the PEP verified it (audited as `caller`). */
  caller?: string;
  /** The verified Txn-Token's `txn` (audited as `txn`: one id per call chain across tiers). */
  txn?: string;
  /** Who acts for the principal, outermost first (audited as `actors`). */
  actors?: readonly string[];
}

/**
 * A principal a verified token proved: its entity (attributes from claims, parents from its
 * groups) and the context entries its claims map to. Identity's `VerifiedToken` is one.
 */
export interface VerifiedPrincipal {
  principal: Entity;
  context: Record<string, CedarValue>;
  /** How and when the subject authenticated, from the token (OIDC Core §2 `auth_time`, `acr`, `amr`): the risk engine's signal. */
  authentication?: AuthenticationFacts;
  /**
   * Every claim of the verified token, for the PDP's own signals (the device claim of device
   * trust). Never put into the Cedar request, never logged: the claim mapping decides what
   * policies see.
   */
  claims?: Readonly<Record<string, unknown>>;
}

/** OIDC Core §2: `auth_time` (epoch seconds), `acr`, `amr`, each null or empty when the token does not say. */
export interface AuthenticationFacts {
  authTime: number | null;
  acr: string | null;
  amr: string[];
}

/** What a decision runs on: one tenant's active policy version, prepared. */
export interface PolicyView {
  tenant: string;
  version: number;
  settings: TenantSettings;
  prepared: PreparedPolicySet;
}

/** Where stored entities come from (the PDP's cache, a bundle, a folder's entities.json). */
export type EntityLookup = (uids: EntityUid[]) => Promise<Entity[]> | Entity[];

/** A decision request in either wire form. */
export type DecisionRequest =
  /**
   * AuthZEN 1.0 evaluation; with `token`, its subject is the token's principal. `clientIp`: the
   * client address a gateway reported (`X-Real-IP`), for the risk engine's network signals;
   * `deviceCertificate`: the PEM chain its TLS handshake verified (`X-Client-Certificate`), for
   * device trust.
   */
  | { kind: 'authzen'; request: AuthzenEvaluationRequest; token?: VerifiedPrincipal; clientIp?: string; deviceCertificate?: string }
  /** Cedar-native (Verified Permissions' IsAuthorized shape), with request-time entities. */
  | { kind: 'cedar'; request: CedarRequest; entities?: readonly Entity[] };

/**
 * A recorded decision made again (replay): its principal, action and resource, and the input
 * its audit record kept ({@link parseDecisionInput}), `context.risk` included. Decided with the
 * entities the lookup holds now.
 */
export interface RecordedDecisionRequest {
  kind: 'recorded';
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  input: RecordedDecisionInput;
}

export interface DecisionPipelineOptions {
  engine: Engine;
  /** Clock in epoch milliseconds (default `Date.now`): the record's time. */
  now?: () => number;
}

export interface DecisionPipeline {
  /**
   * Decide and return the record (the caller audits it). Rejects with a VerityError for a
   * request that cannot be decided as asked: 4xx for the request's fault (invalid, past a
   * limit), 5xx when the engine could not evaluate.
   */
  decide(policy: PolicyView, request: DecisionRequest | RecordedDecisionRequest, lookup: EntityLookup, meta: DecisionMeta, options?: DecideOptions): Promise<DecisionRecord>;
}

/** What one decision adds to its request. */
export interface DecideOptions {
  /** The engine time the request's decisions share (a batch's). */
  budget?: EngineBudget;
  /**
   * The risk engine's outcome for this request ({@link assessRisk}): its `context` is the
   * decision's `context.risk` (handed to the engine beside the request's context, never copied
   * into it), its `assessment` the record's `risk`.
   */
  risk?: RiskOutcome;
}

const NO_OPTIONS: DecideOptions = Object.freeze({});

/** Estimated engine time one request may still spend over its decisions (microseconds). */
export interface EngineBudget {
  remainingUs: number;
}

/** The budget of one batch request: MAX_BATCH_ESTIMATE_MS unless told otherwise (ms). */
export function createEngineBudget(ms: number = MAX_BATCH_ESTIMATE_MS): EngineBudget {
  return { remainingUs: ms * 1000 };
}

function invalid(message: string): VerityError {
  return new VerityError('ERR_DECISION_INVALID_REQUEST', message);
}

const sameUid = (a: EntityUid, b: EntityUid) => a.type === b.type && a.id === b.id;

/** An action no schema group holds. */
const NO_GROUPS: ReadonlySet<string> = new Set();

/** Actions' `Type::"id"` keys by uid, each made once (requests name few actions; bounded all the same). */
const actionKeys = new UidMap<string>();

function actionKeyOf(action: EntityUid): string {
  let key = actionKeys.get(action);
  if (key === undefined) {
    if (actionKeys.size >= 10_000) actionKeys.clear();
    key = formatEntityUid(action);
    actionKeys.set(action, key);
  }
  return key;
}

interface Mapped {
  cedar: CedarRequest;
  overlays: EntityOverlay[];
  provided: readonly Entity[];
}

/** AuthZEN → Cedar, with what the request may say about its own entities. */
function mapAuthzen(request: AuthzenEvaluationRequest, settings: TenantSettings, token: VerifiedPrincipal | undefined): Mapped {
  const mapped = mapEvaluationRequest(request, settings);
  if (!token) {
    const [first, second] = mapped.overlays;
    if (first && second && sameUid(first.uid, second.uid)) {
      throw new VerityError('ERR_DECISION_DUPLICATE_ENTITY', 'subject and resource are the same entity and both carry properties: send them once');
    }
    return { cedar: mapped.cedar, overlays: mapped.overlays, provided: [] };
  }
  // The token is who is asking: its principal, never what the request says about it.
  const principal = token.principal.uid;
  if (mapped.overlays.some((o) => sameUid(o.uid, principal))) {
    throw invalid(`properties may not describe ${formatEntityUid(principal).slice(0, 200)}: it is the principal the token proved`);
  }
  const overlays: EntityOverlay[] = [...mapped.overlays, { uid: principal, attrs: token.principal.attrs, parents: token.principal.parents }];
  // Context entries from the token's claims are verified: they win over the caller's.
  const { action, resource, context } = mapped.cedar;
  return { cedar: { principal, action, resource, context: mergeRecords(context, token.context) }, overlays, provided: [] };
}

/** Cedar-native: entities naming the principal or resource describe them; others must be new. */
function mapCedar(request: CedarRequest, entities: readonly Entity[]): Mapped {
  assertNoDuplicateEntities(entities, 'entities');
  const overlays: EntityOverlay[] = [];
  const provided: Entity[] = [];
  for (const entity of entities) {
    if (sameUid(entity.uid, request.principal) || sameUid(entity.uid, request.resource)) {
      overlays.push({ uid: entity.uid, attrs: entity.attrs, parents: entity.parents, ...(entity.tags ? { tags: entity.tags } : {}) });
    } else {
      provided.push(entity);
    }
  }
  return { cedar: request, overlays, provided };
}

/** A recorded input as the pipeline's mapped request. */
function mapRecorded(request: RecordedDecisionRequest): Mapped {
  const { principal, action, resource, input } = request;
  return { cedar: { principal, action, resource, context: input.context }, overlays: input.overlays, provided: input.provided };
}

/** The fields of a {@link DecisionRecord} that vary; ids and the observe mark are filled in. */
export interface DecisionRecordFields {
  tenant: string;
  principal: EntityUid;
  action: EntityUid;
  resource: EntityUid;
  decision: 'allow' | 'deny';
  reasons: string[];
  errors: Array<{ policyId: string; message: string }>;
  /** 0 when no policy version decided (a refusal before the policies were asked). */
  policyVersion: number;
  meta: DecisionMeta;
  /**
   * The risk engine's assessment (audited as `risk`), as scoreRisk made it: its names and levels
   * are Verity's own and its details storable, so the record takes it as it is (shared, not
   * copied; nothing changes it afterwards).
   */
  risk?: RecordedRisk | undefined;
  /** Epoch milliseconds. */
  time: number;
  latencyUs: number;
  /** What the decision was made on besides stored entities ({@link encodeDecisionInput}); absent for a refusal before the request was mapped. */
  input?: string | undefined;
}

const storableUid = (uid: EntityUid): EntityUid => ({ type: storableText(uid.type), id: storableText(uid.id) });

/** The last record time (epoch ms) and its ISO 8601 text: decisions in the same millisecond share it. */
let lastTime = Number.NaN;
let lastIso = '';

/**
 * The one place a decision record is put together (decisions, refusals, unmatched routes). Its
 * text is storable: a NUL or an unpaired surrogate (a Cedar error quoting a policy, an id from
 * a token) becomes U+FFFD, so no record can stop the audit writer that every tenant shares.
 */
export function buildDecisionRecord(fields: DecisionRecordFields): DecisionRecord {
  const { meta } = fields;
  if (fields.time !== lastTime) {
    lastTime = fields.time;
    lastIso = new Date(fields.time).toISOString();
  }
  // Optional fields set one by one (no spreads): this runs on every decision.
  const record: DecisionRecord = {
    decisionId: randomUUID(),
    time: lastIso,
    tenant: fields.tenant,
    requestId: meta.requestId === null ? null : storableText(meta.requestId),
    tier: meta.tier === null ? null : storableText(meta.tier),
    principal: storableUid(fields.principal),
    action: storableUid(fields.action),
    resource: storableUid(fields.resource),
    decision: fields.decision,
    reasons: fields.reasons.map(storableText),
    errors: fields.errors.length === 0 ? [] : fields.errors.map((e) => ({ policyId: storableText(e.policyId), message: storableText(e.message) })),
    policyVersion: fields.policyVersion,
    latencyUs: fields.latencyUs,
  };
  if (meta.observed) record.observed = true;
  if (meta.caller !== undefined) record.caller = storableText(meta.caller);
  if (meta.txn !== undefined) record.txn = storableText(meta.txn);
  if (meta.actors !== undefined && meta.actors.length > 0) record.actors = meta.actors.map(storableText);
  if (fields.risk !== undefined) record.risk = fields.risk;
  if (fields.input !== undefined) record.input = fields.input;
  return record;
}

/**
 * Refuse a decision whose estimated engine time (ENGINE_COST_US over the version's policies,
 * the slice and the context) passes MAX_DECISION_ESTIMATE_MS: it would hold the engine, which
 * every tenant shares, too long.
 */
function assertWithinEngineBudget(policiesUs: number, slice: Slice, context: ValueScan, likeWork: number, budget: EngineBudget | undefined): void {
  const c = ENGINE_COST_US;
  const us =
    policiesUs +
    slice.entities.length * c.perEntity +
    (slice.values + context.values) * c.perValue +
    (slice.references + context.referenceCount) * c.perReference +
    slice.ancestorPairs * c.perAncestorPair +
    likeWork * c.perLikeStep;
  if (us / 1000 > MAX_DECISION_ESTIMATE_MS) {
    throw new VerityError(
      'ERR_DECISION_LIMIT',
      `this decision would take about ${(us / 1000).toFixed(0)} ms of engine time (${slice.entities.length} entities, ${slice.values + context.values} values, ${slice.ancestorPairs} ancestor pairs); at most ${MAX_DECISION_ESTIMATE_MS} ms are allowed (MAX_DECISION_ESTIMATE_MS)`,
    );
  }
  if (budget !== undefined) {
    if (us > budget.remainingUs) {
      throw new VerityError('ERR_DECISION_LIMIT', `this batch's decisions together would take more than ${MAX_BATCH_ESTIMATE_MS} ms of engine time (MAX_BATCH_ESTIMATE_MS): send the rest in another request`);
    }
    budget.remainingUs -= us;
  }
}

export function createDecisionPipeline(options: DecisionPipelineOptions): DecisionPipeline {
  const { engine } = options;
  const now = options.now ?? Date.now;

  return {
    async decide(policy, request, lookup, meta, options = NO_OPTIONS) {
      const started = performance.now();
      const { budget, risk } = options;
      const { prepared, settings } = policy;
      const mapped =
        request.kind === 'authzen' ? mapAuthzen(request.request, settings, request.token) : request.kind === 'cedar' ? mapCedar(request.request, request.entities ?? []) : mapRecorded(request);
      const { principal, action, resource, context } = mapped.cedar;
      // `context.risk` (which wins over the request's and the token's entries) goes to the engine
      // beside the context: an interned value whose scan and compiled form are made once.
      const riskContext = request.kind === 'recorded' ? request.input.risk : risk?.context;
      // The audit keeps what the engine is given besides stored entities, so the decision can be
      // replayed against another policy version (decision-input.ts); unless the tenant says not to.
      const input = settings.recordDecisionInputs === false ? undefined : encodeDecisionInput({ context, overlays: mapped.overlays, provided: mapped.provided, risk: riskContext });

      const types = prepared.entityTypes;
      if (types) {
        for (const uid of [principal, resource]) {
          if (!types.has(uid.type)) throw new VerityError('ERR_ENTITY_UNKNOWN_TYPE', `entity type "${uid.type.slice(0, 200)}" is not in the tenant's schema`);
        }
      }

      const schema = prepared.schema;
      const actionKey = actionKeyOf(action);
      if (schema && !schema.actionAncestors.has(actionKey)) {
        // Cedar refuses a request for an action its schema does not declare; for AuthZEN
        // that is simply not permitted: a deny no policy determined, with the reason.
        return buildDecisionRecord({
          tenant: policy.tenant,
          principal,
          action,
          resource,
          decision: 'deny',
          reasons: [],
          errors: [{ policyId: 'schema', message: `action ${formatEntityUid(action).slice(0, 200)} is not declared in the tenant's schema` }],
          policyVersion: policy.version,
          meta,
          risk: risk?.assessment,
          time: now(),
          latencyUs: Math.round((performance.now() - started) * 1000),
          input,
        });
      }

      const contextScan = scanValues(Object.values(context));
      if (riskContext !== undefined) addSharedScan(contextScan, riskContext);
      assertValueDepth(contextScan.depth, 'the context');
      const actionAncestors = schema ? (schema.actionAncestors.get(actionKey) ?? NO_GROUPS) : null;
      // Every entity the decision can observe: the request's own, what its context names,
      // what request-time entities add, and what the policies that may apply read.
      const roots: EntityUid[] = [
        principal,
        action,
        resource,
        ...contextScan.references,
        ...mapped.provided.map((e) => e.uid),
        ...observedEntitiesFor(prepared.analysis, mapped.cedar, actionKey, actionAncestors),
      ];
      const slice = await sliceEntities(roots, resolveWithRequestEntities(mapped, lookup), schema ? { skipTypes: schema.actionTypes } : {});

      // `like` may match a string of the request, of the entities, or a literal of the policies.
      const longest = Math.max(slice.longestString, contextScan.longestString, prepared.analysis.longestLiteral);
      const likeWork = prepared.analysis.patternElements * longest;
      if (likeWork > MAX_LIKE_WORK) {
        throw new VerityError(
          'ERR_DECISION_LIMIT',
          `a string of ${longest} characters against this policy version's ${prepared.analysis.patternElements} like-pattern elements is past the like work limit (MAX_LIKE_WORK ${MAX_LIKE_WORK})`,
        );
      }
      assertWithinEngineBudget(prepared.analysis.costUs, slice, contextScan, likeWork, budget);

      const validateRequest = settings.validateRequests === true && schema !== null;
      const result = await engine.authorize(prepared, mapped.cedar, slice.entities, riskContext === undefined ? { validateRequest } : { validateRequest, risk: riskContext });
      return buildDecisionRecord({
        tenant: policy.tenant,
        principal,
        action,
        resource,
        decision: result.decision,
        reasons: result.reasons,
        errors: result.errors,
        policyVersion: policy.version,
        meta,
        risk: risk?.assessment,
        time: now(),
        latencyUs: Math.round((performance.now() - started) * 1000),
        input,
      });
    },
  };
}
