/**
 * Decisions from one verified policy bundle, exactly as the PDP makes them: the same AuthZEN
 * validation and mapping, the token's principal laid over the stored entity, the same entity
 * slice and engine. Built once per bundle; the engine keeps one prepared set per version.
 */
import {
  formatEntityUid,
  isVerityError,
  mapEvaluationRequest,
  parseEvaluationRequest,
  resolveWithRequestEntities,
  sliceEntitiesSync,
  VerityError,
  type CedarValue,
  type EngineResult,
  type Engine,
  type Entity,
  type PreparedPolicySet,
} from '@verity/core';
import { createRevocationList, parseIdentitySource, type IdentitySource, type PolicyBundle, type TokenVerifier } from '@verity/identity';
import { EnforceError } from './errors.js';
import type { DecisionRequest } from './types.js';

/** What a verified token adds, as the PDP's decision service takes it. */
export interface TokenPrincipal {
  principal: Entity;
  context: Record<string, CedarValue>;
}

export interface BundleDecider {
  readonly bundle: PolicyBundle;
  /** Identity sources that did not parse (never used; tokens from them are refused). */
  readonly skippedSources: string[];
  /** The token's principal, or the `ERR_TOKEN_*` code it was refused with. Rejects only when it cannot tell. */
  authenticate(token: string, audience: string | undefined): Promise<TokenPrincipal | { code: string }>;
  /** Decide, given the principal a token proved (if any). Throws an EnforceError for a request the PDP would refuse. */
  evaluate(request: DecisionRequest, verified?: TokenPrincipal): EngineResult & { principal: Entity['uid']; action: Entity['uid']; resource: Entity['uid'] };
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

/**
 * The tenant token service's own source, as the PDP builds it (`verity-sts`): it is not in the
 * bundle. The PDP accepts the audiences of the tenant's STS clients, which a PEP cannot see, so
 * here it is the audience this PEP is (or the issuer, as the PDP does when there are none).
 */
function stsSource(bundle: PolicyBundle, issuer: string, audience: string | undefined): IdentitySource {
  return Object.freeze({
    id: 'verity-sts',
    tenant: bundle.tenant,
    issuer,
    keys: { kind: 'jwks', jwksUri: `${issuer}/.well-known/jwks.json` },
    audiences: [audience ?? issuer],
    algorithms: ['ES256'],
    clockToleranceSec: 30,
    claims: { principalType: bundle.settings.stsPrincipalType ?? 'User', idClaim: 'sub', groupType: 'Group', attributes: {}, context: { scopes: 'scope' } },
  } satisfies IdentitySource);
}

/** Build the decider for one verified bundle. Throws (an EnforceError) if its policies do not prepare. */
export function createBundleDecider(options: BundleDeciderOptions): BundleDecider {
  const { engine, bundle, issuer, verifier } = options;
  const settings = bundle.settings;
  let prepared: PreparedPolicySet;
  try {
    prepared = engine.prepare(`bundle:${bundle.tenant}@${bundle.version}#${bundle.hash}`, bundle.content);
  } catch (error) {
    throw asEnforceError(error);
  }
  const byUid = new Map(bundle.entities.map((entity) => [formatEntityUid(entity.uid), entity]));
  const revocations = createRevocationList({ now: options.now });
  revocations.load(bundle.revocations);

  const skippedSources: string[] = [];
  const sources: IdentitySource[] = [];
  for (const config of bundle.identitySources) {
    try {
      sources.push(parseIdentitySource({ ...config, tenant: bundle.tenant }));
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
      list = [...sources, stsSource(bundle, issuer, audience)];
      withSts.set(key, list);
    }
    return list;
  };

  return {
    bundle,
    skippedSources,

    async authenticate(token, audience) {
      try {
        const verified = await verifier.verify(token, sourcesFor(audience), audience === undefined ? {} : { audience });
        if (revocations.isRevoked({ ...verified, tenant: bundle.tenant })) return { code: 'ERR_TOKEN_REVOKED' };
        return { principal: verified.principal, context: verified.context };
      } catch (error) {
        if (isVerityError(error) && error.code.startsWith('ERR_TOKEN_')) return { code: error.code };
        // An issuer whose keys cannot be fetched: no decision, as at the PDP (503).
        throw asEnforceError(error);
      }
    },

    evaluate(request, verified) {
      try {
        const subject = verified ? { type: verified.principal.uid.type, id: verified.principal.uid.id } : request.subject;
        const parsed = parseEvaluationRequest({ subject, action: { name: request.action }, resource: request.resource, context: request.context });
        const mapped = mapEvaluationRequest(parsed, settings);
        const cedar = verified ? { ...mapped.cedar, context: { ...mapped.cedar.context, ...verified.context } } : mapped.cedar;
        // The token's principal overlays the stored one: stored groups and attributes still count.
        const overlays = verified ? [...mapped.overlays, { uid: verified.principal.uid, attrs: verified.principal.attrs, parents: verified.principal.parents }] : mapped.overlays;
        const types = prepared.entityTypes;
        if (types) {
          for (const uid of [cedar.principal, cedar.resource]) {
            if (!types.has(uid.type)) throw new VerityError('ERR_ENTITY_UNKNOWN_TYPE', `entity type "${uid.type}" is not in the tenant's schema`);
          }
        }
        const lookup = resolveWithRequestEntities({ overlays, provided: [] }, (uids) => uids.flatMap((uid) => byUid.get(formatEntityUid(uid)) ?? []));
        const slice = sliceEntitiesSync([cedar.principal, cedar.action, cedar.resource], lookup);
        return { ...engine.authorize(prepared, cedar, slice), principal: cedar.principal, action: cedar.action, resource: cedar.resource };
      } catch (error) {
        throw asEnforceError(error);
      }
    },
  };
}
