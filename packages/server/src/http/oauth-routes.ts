/**
 * Each tenant's token service over HTTP: OIDC discovery, JWKS, the token endpoint
 * (client_credentials, RFC 8693 token exchange, and Txn-Tokens for workloads authenticated by a
 * JWT-SVID) and RFC 7009 revocation. The work is the token endpoint service's; here are forms in
 * and RFC 6749 §5.2 error bodies out.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { VerityError } from '@verity/core';
import type { TokenRequest } from '../identity/token-endpoint.js';
import { formOf, registerFormBody } from './form-body.js';
import { logFailure, toVerityError } from './errors.js';
import { metaOf, tenantParam, type Components } from './context.js';

/** RFC 6749 §5.2 / RFC 8693 §2.2.2 / RFC 7009 §2.2.1 error names, next to Verity's own code. */
const OAUTH_ERRORS: Partial<Record<VerityError['code'], string>> = {
  ERR_STS_INVALID_CLIENT: 'invalid_client',
  ERR_STS_INVALID_REQUEST: 'invalid_request',
  ERR_STS_INVALID_GRANT: 'invalid_grant',
  ERR_STS_INVALID_SCOPE: 'invalid_scope',
  ERR_STS_INVALID_TARGET: 'invalid_target',
  ERR_STS_UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type',
  // RFC 8693 §2.2.2: unwilling to issue a token for the requested audience.
  ERR_STS_EXCHANGE_DENIED: 'invalid_target',
  // RFC 8693 §2.2.2: a subject or actor token invalid for any reason, or unacceptable by policy.
  ERR_STS_INVALID_SUBJECT_TOKEN: 'invalid_request',
  ERR_STS_INVALID_ACTOR_TOKEN: 'invalid_request',
  ERR_STS_UNAUTHORIZED_CLIENT: 'unauthorized_client',
  // A malformed job_id, or a job's token asked for another job.
  ERR_STS_INVALID_JOB: 'invalid_request',
};

/**
 * The RFC 6749 §5.2 `error` of every answer that is not a success: the table above, else by
 * status (a refused credential `invalid_client`, an outage `temporarily_unavailable`, a fault
 * `server_error`, any other 4xx `invalid_request`), so a client always finds the field.
 */
function oauthErrorOf(error: VerityError): string {
  const named = OAUTH_ERRORS[error.code];
  if (named !== undefined) return named;
  if (error.status === 401) return 'invalid_client';
  if (error.status === 503) return 'temporarily_unavailable';
  if (error.status >= 500) return 'server_error';
  return 'invalid_request';
}

function tokenRequest(request: FastifyRequest): TokenRequest {
  return { headers: request.headers, form: formOf(request.body) };
}

export async function registerOAuthRoutes(app: FastifyInstance, c: Components): Promise<void> {
  await app.register(async (scope) => {
    registerFormBody(scope);
    scope.setErrorHandler((error, request, reply) => {
      const verityError = toVerityError(error);
      logFailure(request, verityError, error);
      reply
        .status(verityError.status)
        .header('cache-control', 'no-store')
        .send({ ...verityError.toJSON(), error: oauthErrorOf(verityError), error_description: verityError.message });
    });

    scope.get('/tenants/:tenant/.well-known/openid-configuration', async (request) => c.tokenEndpoint.discovery(tenantParam(request, { write: false })));

    scope.get('/tenants/:tenant/.well-known/jwks.json', async (request) => c.tokenEndpoint.jwks(tenantParam(request, { write: false })));

    scope.post('/tenants/:tenant/oauth2/token', async (request, reply) => {
      const tenant = tenantParam(request, { write: false });
      reply.header('cache-control', 'no-store');
      return c.tokenEndpoint.token(tenant, tokenRequest(request), metaOf(request));
    });

    // RFC 7009 §2.2: 200 whether or not the token was valid or known; §2.1: 400 for another client's token.
    scope.post('/tenants/:tenant/oauth2/revoke', async (request, reply) => {
      const tenant = tenantParam(request, { write: false });
      await c.tokenEndpoint.revoke(tenant, tokenRequest(request));
      reply.header('cache-control', 'no-store');
      return {};
    });
  });
}
