/**
 * The PDP endpoints real gateways call before forwarding: nginx `auth_request`, Envoy
 * `ext_authz` (HTTP service) and Caddy `forward_auth`: their headers in, their conventions
 * out. One decision path serves all three (gateway/gateway-decider.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isVerityError, VerityError, type DecisionMeta, type TenantSettings } from '@verity/core';
import { parseBearerToken } from '@verity/identity';
import { tenantParam, type Components, requireAdmin } from './context.js';
import { routeAudienceOf } from '../gateway/gateway-decider.js';

/** The original request, as the gateway reports it. */
interface OriginalRequest {
  method: string;
  uri: string;
}

// An HTTP method is a token (RFC 9110 §9.1); methods are case-sensitive, so none is rewritten.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/;
const ENVOY_MARKER = '/gateway/v1/envoy';

function headerOf(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** The original method and URI from the gateway's headers; a gateway without them is misconfigured. */
function originalFromHeaders(request: FastifyRequest, methodHeader: string, uriHeader: string): OriginalRequest {
  const method = headerOf(request, methodHeader);
  const uri = headerOf(request, uriHeader);
  if (method === undefined || !METHOD.test(method)) throw new VerityError('ERR_DECISION_INVALID_REQUEST', `the gateway must send the original method in ${methodHeader}`);
  if (uri === undefined || uri === '') throw new VerityError('ERR_DECISION_INVALID_REQUEST', `the gateway must send the original URI in ${uriHeader}`);
  return { method, uri };
}

/** Envoy's HTTP ext_authz service: the original method, and the original path after our prefix. */
function originalFromEnvoy(request: FastifyRequest): OriginalRequest {
  // The raw URL, not the decoded wildcard parameter: the path is parsed exactly once, by the matcher.
  const at = request.url.indexOf(ENVOY_MARKER);
  return { method: request.method, uri: request.url.slice(at + ENVOY_MARKER.length) };
}

/** The gateway's own Verity credential, in `X-Verity-Credential` (its `Authorization` is the user's). */
async function requireGatewayCredential(c: Components, request: FastifyRequest, tenant: string): Promise<void> {
  if (c.config.decisionAuth === 'open') return;
  await requireAdmin(c, request, 'decide', tenant, { header: 'x-verity-credential' });
}

/** RFC 6750 §3: no error code when no token was sent, `invalid_token` when one was refused. */
function wwwAuthenticate(error: VerityError): string {
  return error.code === 'ERR_TOKEN_MISSING' ? 'Bearer' : 'Bearer error="invalid_token"';
}

// Characters kept as they are in X-Verity-Subject; everything else is percent-encoded (UTF-8),
// so a subject can never split or smuggle a header and decodeURIComponent gives it back.
const SUBJECT_UNSAFE = /[^A-Za-z0-9._~@:+=/!$&'()*,;-]/gu;

function subjectHeader(id: string): string {
  return id.replace(SUBJECT_UNSAFE, (char) => [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/**
 * The audience a token must have here: the matched route's `gatewayRouteAudiences` entry, else the
 * tenant's `gatewayAudience`, else its public base URL.
 * Never "any audience the tenant's sources accept": a token exchanged for a service behind the
 * gateway (RFC 8693 `audience`) must not pass the gateway as if it were issued for it.
 */
function gatewayAudience(c: Components, tenant: string, settings: TenantSettings, uri: string): string {
  const routeAudience = routeAudienceOf(settings, uri);
  if (routeAudience !== undefined) return routeAudience;
  if (settings.gatewayAudience !== undefined) return settings.gatewayAudience;
  // The tenant's issuer URL: from --public-url, else the listen address; never the Host header.
  return c.tokens.issuerUrl(tenant);
}

/** A URL-escaped PEM (nginx `$ssl_client_escaped_cert`); one that does not unescape is kept as sent (and refused as not PEM). */
function unescapeCertificate(escaped: string): string {
  try {
    return decodeURIComponent(escaped);
  } catch {
    return escaped;
  }
}

/** Decide one forwarded request and answer in the gateways' shared convention. */
async function decideForwarded(c: Components, request: FastifyRequest, reply: FastifyReply, original: () => OriginalRequest): Promise<FastifyReply> {
  const tenant = tenantParam(request, { write: false });
  // The tier is fixed: a client's X-Verity-Tier is forwarded by most gateways and proves nothing.
  const meta: DecisionMeta = { requestId: request.id, tier: 'gateway' };
  reply.header('cache-control', 'no-store');
  await requireGatewayCredential(c, request, tenant);
  const { method, uri } = original();
  // An unknown tenant, or one without policies, is refused before its token is looked at.
  const active = await c.policies.active(tenant);
  let verified;
  try {
    const audience = gatewayAudience(c, tenant, active.tenant.settings, uri);
    verified = await c.identity.verifySubjectToken(tenant, parseBearerToken(request.headers.authorization), meta, audience);
  } catch (error) {
    if (isVerityError(error) && error.status === 401) reply.header('www-authenticate', wwwAuthenticate(error));
    throw error;
  }
  // The gateway's own view of the connection (nginx `proxy_set_header X-Real-IP $remote_addr;`,
  // Caddy `header_up X-Real-IP {remote_host}`): the risk engine's network signals read it.
  const clientIp = headerOf(request, 'x-real-ip');
  // The client's device certificate, as the gateway's TLS handshake verified it (nginx
  // `proxy_set_header X-Client-Certificate $ssl_client_escaped_cert;`): URL-escaped PEM.
  const escaped = headerOf(request, 'x-client-certificate');
  const deviceCertificate = escaped === undefined || escaped === '' ? undefined : unescapeCertificate(escaped);
  const record = await c.gateway.decide({ tenant, method, uri, verified, meta, ...(clientIp === undefined ? {} : { clientIp }), ...(deviceCertificate === undefined ? {} : { deviceCertificate }) });
  reply.header('x-verity-decision-id', record.decisionId).header('x-verity-policy-version', String(record.policyVersion));
  if (record.decision !== 'allow') return reply.code(403).send();
  const assertion = headerOf(request, CLIENT_ASSERTION_HEADER);
  if (assertion !== undefined) {
    // The edge's Txn-Token (draft-ietf-oauth-transaction-tokens §7): asked for, so the request
    // does not pass without one. A refusal was audited; the gateway answers 403 (fail closed).
    try {
      const txn = await c.tokenEndpoint.issueTxnTokenForGateway(tenant, { assertion, subject: verified, decisionId: record.decisionId, policyVersion: record.policyVersion }, { requestId: request.id, tier: 'sts' });
      reply.header('txn-token', txn.access_token);
    } catch (error) {
      if (!isVerityError(error) || error.status >= 500) throw error;
      return reply.header('x-verity-error', error.code).code(403).send();
    }
  }
  return reply.header('x-verity-subject', subjectHeader(verified.principal.uid.id)).code(200).send();
}

/**
 * The gateway workload's JWT-SVID (`aud` the tenant's token endpoint URL), sent on the
 * gateway's request to this endpoint when it wants a Txn-Token for the allowed request; the
 * answer then carries it in `Txn-Token`.
 */
const CLIENT_ASSERTION_HEADER = 'x-verity-client-assertion';

/**
 * `/tenants/{t}/gateway/v1/nginx` (X-Original-Method, X-Original-URI),
 * `/tenants/{t}/gateway/v1/envoy/*` (the original method and path) and
 * `/tenants/{t}/gateway/v1/forward-auth` (X-Forwarded-Method, X-Forwarded-Uri), any method.
 */
export async function registerGatewayRoutes(app: FastifyInstance, c: Components): Promise<void> {
  await app.register(async (scope) => {
    // Gateways may forward the original request's body (or only its headers): it is never read.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    scope.all('/tenants/:tenant/gateway/v1/nginx', (request, reply) =>
      decideForwarded(c, request, reply, () => originalFromHeaders(request, 'x-original-method', 'x-original-uri')),
    );
    scope.all('/tenants/:tenant/gateway/v1/envoy/*', (request, reply) => decideForwarded(c, request, reply, () => originalFromEnvoy(request)));
    scope.all('/tenants/:tenant/gateway/v1/forward-auth', (request, reply) =>
      decideForwarded(c, request, reply, () => originalFromHeaders(request, 'x-forwarded-method', 'x-forwarded-uri')),
    );
  });
}
