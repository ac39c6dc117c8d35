/**
 * Decisions from one verified policy bundle, exactly as the PDP makes them: the same AuthZEN
 * validation and mapping, the token's principal laid over the stored entity, the same entity
 * slice and engine. Built once per bundle; the engine keeps one prepared set per version.
 */
import {
  assessRisk,
  authAgeOf,
  boundDeviceOf,
  certifiedDeviceSignal,
  clientIpOf,
  createDecisionPipeline,
  deviceSignalOf,
  formatEntityUid,
  holdThreatLists,
  isVerityError,
  matchThreatLists,
  parseEvaluationRequest,
  refuseCallerRisk,
  riskEnabled,
  tableLocationOf,
  type DecisionRequest as CoreDecisionRequest,
  type RiskSignals,
  type DecisionMeta,
  type DecisionRecord,
  type Engine,
  type Entity,
  type PolicyView,
  type VerifiedPrincipal,
  withEntry,
} from '@verity/core';
import { createRevocationList, createTokenAuthenticator, parseIdentitySource, stsIdentitySource, verifiedPrincipalOf, type IdentitySource, type PolicyBundle, type TokenVerifier } from '@verity/identity';
import { verifyDeviceCertificate } from '@verity/workload';
import { EnforceError } from './errors.js';
import type { DecisionRequest } from './types.js';

export interface BundleDecider {
  readonly bundle: PolicyBundle;
  /** Identity sources that did not parse (never used; tokens from them are refused). */
  readonly skippedSources: string[];
  /** The token's principal, or the `ERR_TOKEN_*` code it was refused with. Rejects only when it cannot tell. */
  authenticate(token: string, audience: string | undefined): Promise<VerifiedPrincipal | { code: string }>;
  /**
   * Decide through core's decision pipeline, given the principal a token proved (if any), and
   * return the record to audit. Rejects with an EnforceError for a request the PDP would refuse.
   */
  decide(request: DecisionRequest, verified: VerifiedPrincipal | undefined, meta: DecisionMeta): Promise<DecisionRecord>;
}

export interface BundleDeciderOptions {
  engine: Engine;
  bundle: PolicyBundle;
  /** The tenant's issuer, `{url}/tenants/{tenant}`: its own token service signs as this. */
  issuer: string;
  verifier: TokenVerifier;
  now: () => number;
}

/**
 * A failure the PDP would have answered with an error status: the same `EnforceError` the remote
 * source reports for that answer (4xx refused, 5xx failed), with the PDP's code.
 */
function asEnforceError(error: unknown): EnforceError {
  if (error instanceof EnforceError) return error;
  if (isVerityError(error)) {
    const detail = { pdpStatus: error.status, pdpCode: error.code, cause: error };
    if (error.status >= 500) return new EnforceError('ERR_ENFORCE_PDP_FAILED', `the local decision failed (${error.code})`, detail);
    return new EnforceError('ERR_ENFORCE_PDP_REFUSED', `the local decision refused the request (${error.code})`, detail);
  }
  return new EnforceError('ERR_ENFORCE_PDP_FAILED', 'the local decision failed', { cause: error });
}

/** Build the decider for one verified bundle. Rejects (with an EnforceError) if its policies do not prepare. */
export async function createBundleDecider(options: BundleDeciderOptions): Promise<BundleDecider> {
  const { engine, bundle, issuer, verifier } = options;
  let view: PolicyView;
  try {
    const prepared = await engine.prepare(`bundle:${bundle.tenant}@${bundle.version}#${bundle.hash}`, bundle.content);
    view = { tenant: bundle.tenant, version: bundle.version, settings: bundle.settings, prepared };
  } catch (error) {
    throw asEnforceError(error);
  }
  const pipeline = createDecisionPipeline({ engine, now: options.now });
  const byUid = new Map(bundle.entities.map((entity) => [formatEntityUid(entity.uid), entity]));
  const lookup = (uids: Entity['uid'][]) => uids.flatMap((uid) => byUid.get(formatEntityUid(uid)) ?? []);
  const revocations = createRevocationList({ now: options.now });
  revocations.load(bundle.revocations);
  const tokens = createTokenAuthenticator({ verifier, revocations });

  const skippedSources: string[] = [];
  const sources: IdentitySource[] = [];
  for (const config of bundle.identitySources) {
    try {
      sources.push(parseIdentitySource(withEntry(config as Record<string, unknown>, 'tenant', bundle.tenant)));
    } catch {
      // The PDP validated it when it was stored; one that no longer parses verifies nothing.
      skippedSources.push(typeof config.id === 'string' ? config.id : '(unnamed)');
    }
  }
  const withSts = new Map<string, IdentitySource[]>();
  const sourcesFor = (audience: string | undefined): IdentitySource[] => {
    const key = audience ?? '';
    let list = withSts.get(key);
    if (list === undefined) {
      // The PDP accepts the audiences of the tenant's STS clients, which a PEP cannot see: here
      // it is the audience this PEP is (or the issuer, as the PDP does when there are none).
      const principalType = bundle.settings.stsPrincipalType;
      list = [...sources, stsIdentitySource({ tenant: bundle.tenant, issuer, audiences: audience === undefined ? [] : [audience], ...(principalType === undefined ? {} : { principalType }) })];
      withSts.set(key, list);
    }
    return list;
  };

  const devices = new Map((bundle.devices ?? []).map((device) => [device.id, device.posture]));
  const threatLists = holdThreatLists(bundle.threatLists ?? []);
  const assurance = new Map((bundle.assurance ?? []).map((level) => [level.subject, { acr: level.acr, atMs: level.atMs }]));
  /** Refuse what only the PDP can weigh: failing closed, never deciding on part of the risk. */
  const pdpOnly = (why: string) => new EnforceError('ERR_ENFORCE_LOCAL_UNSUPPORTED', `not decided locally: ${why}; decide this tenant's requests remotely`);
  /**
   * The signals a PEP can measure from its bundle: the client IP's location (the tenant's table)
   * and reputation (its threat lists), the login's age from the token, the device its claim
   * names. A request that needs what only the PDP's replicas see (per-subject activity, the PDP's
   * location database) is refused with ERR_ENFORCE_LOCAL_UNSUPPORTED (docs/continuous-verification.md,
   * "Local mode").
   */
  const localRiskSignals = (request: CoreDecisionRequest, nowMs: number): RiskSignals => {
    const signals: RiskSignals = {};
    if (bundle.settings.risk?.activity !== undefined) throw pdpOnly('the risk engine weighs per-subject activity, which only the PDP keeps');
    const address = clientIpOf(request);
    if (address !== null) {
      const location = tableLocationOf(bundle.settings, address);
      if (location === null && bundle.pdpLocatesIps === true) throw pdpOnly('the client IP is placed only by the PDP\'s location database');
      if (location !== null) signals.location = location;
      const threat = matchThreatLists(threatLists, address, nowMs);
      if (threat !== null) signals.maliciousIp = threat;
    }
    const authAgeSec = authAgeOf(request, nowMs);
    if (authAgeSec !== undefined) signals.authAgeSec = authAgeSec;
    const trust = bundle.settings.risk?.devices;
    if (trust !== undefined) {
      const bound = boundDeviceOf(request, trust, nowMs, verifyDeviceCertificate);
      signals.device = certifiedDeviceSignal(bound, deviceSignalOf(bound.id === null ? undefined : devices.get(bound.id), { nowMs, maxPatchAgeDays: trust.max_patch_age_days }));
    }
    return signals;
  };

  return {
    bundle,
    skippedSources,

    async authenticate(token, audience) {
      try {
        const verified = await tokens.authenticate(token, { tenant: bundle.tenant, sources: sourcesFor(audience), ...(audience === undefined ? {} : { audience }) });
        return verifiedPrincipalOf(verified);
      } catch (error) {
        if (isVerityError(error) && error.code.startsWith('ERR_TOKEN_')) return { code: error.code };
        // An issuer whose keys cannot be fetched: no decision, as at the PDP (503).
        throw asEnforceError(error);
      }
    },

    async decide(request, verified, meta) {
      try {
        const subject = verified ? { type: verified.principal.uid.type, id: verified.principal.uid.id } : request.subject;
        const evaluation = parseEvaluationRequest({ subject, action: { name: request.action }, resource: request.resource, context: request.context });
        const asked: CoreDecisionRequest = { kind: 'authzen', request: evaluation, ...(verified ? { token: verified } : {}) };
        if (!riskEnabled(bundle.settings)) return await pipeline.decide(view, asked, lookup, meta);
        // The risk engine, as the PDP runs it, on the signals the bundle carries.
        refuseCallerRisk(asked);
        const nowMs = options.now();
        const later = verified === undefined ? undefined : assurance.get(verified.principal.uid.id);
        const risk = assessRisk(bundle.settings, asked, localRiskSignals(asked, nowMs), nowMs, later);
        const record = await pipeline.decide(view, asked, lookup, meta, { risk });
        if (risk.validUntilMs !== undefined) record.validUntilMs = risk.validUntilMs;
        return record;
      } catch (error) {
        throw asEnforceError(error);
      }
    },
  };
}
