/**
 * How a request a gateway forwarded is decided: by the route template its path matches among
 * the tenant's `gatewayRoutes`, as an AuthZEN request on `route::"<template>"`. The same path
 * serves nginx, Envoy and Caddy; the HTTP layer only reads their headers and answers.
 */
import {
  buildDecisionRecord,
  isVerityError,
  mapEvaluationRequest,
  parseEvaluationRequest,
  type AuthzenEvaluationRequest,
  type DecisionMeta,
  type DecisionRecord,
  type TenantSettings,
  type VerifiedPrincipal,
} from '@verity/core';
import type { AuditWriter } from '../audit-writer.js';
import type { DecisionService } from '../decision-service.js';
import type { ActivePolicy, PolicyService } from '../policy-service.js';
import { createRouteTable, type RouteTable } from './route-match.js';

/** The resource id recorded when no template matches (templates start with `/`, so no clash). */
export const UNMATCHED_ROUTE = '(unmatched)';

/** One forwarded request: the original method and URI, and the caller its token proved. */
export interface ForwardedRequest {
  tenant: string;
  method: string;
  uri: string;
  verified: VerifiedPrincipal;
  meta: DecisionMeta;
  /** The client's address as the gateway saw the connection (`X-Real-IP`), as given. */
  clientIp?: string;
  /** The device certificate chain the gateway's TLS handshake verified (`X-Client-Certificate`, PEM). */
  deviceCertificate?: string;
}

export interface GatewayDecider {
  /**
   * Decide and audit one forwarded request. A path no template matches (or one refused as not
   * in normal form), and a request the pipeline refuses with a 4xx, are recorded denies.
   */
  decide(request: ForwardedRequest): Promise<DecisionRecord>;
}

export interface GatewayDeciderOptions {
  decisions: DecisionService;
  policies: PolicyService;
  audit: AuditWriter;
}

/** Route tables compiled once per settings object (settings are replaced, never mutated). */
const tables = new WeakMap<TenantSettings, RouteTable>();

function routesOf(settings: TenantSettings): RouteTable {
  let table = tables.get(settings);
  if (!table) tables.set(settings, (table = createRouteTable(settings.gatewayRoutes ?? [])));
  return table;
}

/**
 * The audience a route of the tenant's settings asks for (`gatewayRouteAudiences`), when the
 * forwarded `uri` matches a template that has one; otherwise undefined (the tenant's
 * `gatewayAudience`, or its default, applies).
 */
export function routeAudienceOf(settings: TenantSettings, uri: string): string | undefined {
  if (settings.gatewayRouteAudiences === undefined) return undefined;
  const outcome = routesOf(settings).match(uri);
  return outcome.kind === 'matched' ? settings.gatewayRouteAudiences[outcome.template] : undefined;
}

export function createGatewayDecider(options: GatewayDeciderOptions): GatewayDecider {
  const { decisions, policies, audit } = options;

  /**
   * A gateway deny the policies were not asked about, recorded like any decision: no template
   * matches (or the path is refused) — a policy like `resource is route` must not allow an
   * unknown path, so the resource is `(unmatched)` — or the pipeline refused the request (past a
   * limit, or a context the schema does not declare). auth_request and forward_auth know only
   * 2xx, 401 and 403, so either is a 403.
   */
  async function recordDeny(active: ActivePolicy, request: AuthzenEvaluationRequest, verified: VerifiedPrincipal, error: { policyId: string; message: string }, meta: DecisionMeta): Promise<DecisionRecord> {
    const { cedar } = mapEvaluationRequest(request, active.tenant.settings);
    const record = buildDecisionRecord({
      tenant: active.tenant.id,
      principal: verified.principal.uid,
      action: cedar.action,
      resource: cedar.resource,
      decision: 'deny',
      reasons: [],
      errors: [error],
      policyVersion: active.version,
      meta,
      time: Date.now(),
      latencyUs: 0,
    });
    const backpressure = audit.enqueue(record);
    if (backpressure) await backpressure;
    return record;
  }

  /** A matched route, decided; a request the pipeline refuses with a 4xx is a recorded deny. */
  async function decideMatched(active: ActivePolicy, evaluation: AuthzenEvaluationRequest, verified: VerifiedPrincipal, meta: DecisionMeta, connection: Pick<ForwardedRequest, 'clientIp' | 'deviceCertificate'>): Promise<DecisionRecord> {
    try {
      const { clientIp, deviceCertificate } = connection;
      const request = { kind: 'authzen' as const, request: evaluation, token: verified, ...(clientIp === undefined ? {} : { clientIp }), ...(deviceCertificate === undefined ? {} : { deviceCertificate }) };
      return await decisions.decide({ tenant: active.tenant.id, request, meta });
    } catch (error) {
      if (!isVerityError(error) || error.status >= 500 || error.status === 401) throw error;
      return recordDeny(active, evaluation, verified, { policyId: 'gateway-refused', message: error.code }, meta);
    }
  }

  return {
    async decide({ tenant, method, uri, verified, meta, clientIp, deviceCertificate }) {
      const active = await policies.active(tenant);
      const subject = { type: verified.principal.uid.type, id: verified.principal.uid.id };
      const outcome = routesOf(active.tenant.settings).match(uri);
      const resourceId = outcome.kind === 'matched' ? outcome.template : UNMATCHED_ROUTE;
      const context = outcome.kind === 'matched' ? { path: outcome.path, params: outcome.params } : {};
      // Parsed like any AuthZEN request: the same checks on ids and context values (NUL, surrogates).
      const evaluation = parseEvaluationRequest({ subject, action: { name: method }, resource: { type: 'route', id: resourceId }, context });
      if (outcome.kind === 'matched') {
        const network: { clientIp?: string; deviceCertificate?: string } = {};
        if (clientIp !== undefined) network.clientIp = clientIp;
        if (deviceCertificate !== undefined) network.deviceCertificate = deviceCertificate;
        return decideMatched(active, evaluation, verified, meta, network);
      }
      const message = outcome.kind === 'unmatched' ? 'no route template matches the path' : `the path is ${outcome.reason}`;
      return recordDeny(active, evaluation, verified, { policyId: 'gateway-route', message }, meta);
    },
  };
}
