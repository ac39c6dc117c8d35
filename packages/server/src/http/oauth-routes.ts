/**
 * Each tenant's token service over HTTP: OIDC discovery, JWKS, the token endpoint
 * (client_credentials and RFC 8693 token exchange) and RFC 7009 revocation.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VerityError, isPlainObject, isVerityError } from '@verity/core';
import {
  authenticateClient,
  createMemorySeenJtiSet,
  exchangeToken,
  issueForClient,
  readFormParam,
  GRANT_TYPE_CLIENT_CREDENTIALS,
  GRANT_TYPE_TOKEN_EXCHANGE,
  type StsClient,
} from '@verity/identity';
import { registerFormBody } from './form-body.js';
import { toVerityError } from './errors.js';
import { metaOf, tenantParam, type Components } from './context.js';
import { requireTenant } from '../require-tenant.js';

/** RFC 6749 §5.2 error names, next to Verity's own code. */
const OAUTH_ERRORS: Partial<Record<VerityError['code'], string>> = {
  ERR_STS_INVALID_CLIENT: 'invalid_client',
  ERR_STS_INVALID_REQUEST: 'invalid_request',
  ERR_STS_INVALID_GRANT: 'invalid_grant',
  ERR_STS_INVALID_SCOPE: 'invalid_scope',
  ERR_STS_INVALID_TARGET: 'invalid_target',
  ERR_STS_UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type',
  ERR_STS_EXCHANGE_DENIED: 'access_denied',
};

function form(request: FastifyRequest): Record<string, string> {
  const body = request.body;
  if (!isPlainObject(body)) throw new VerityError('ERR_STS_INVALID_REQUEST', 'the body must be application/x-www-form-urlencoded');
  return body as Record<string, string>;
}

export async function registerOAuthRoutes(app: FastifyInstance, c: Components): Promise<void> {
  // Replay protection for private_key_jwt assertions; per process (see docs/design-notes.md).
  const seenJti = createMemorySeenJtiSet();

  await app.register(async (scope) => {
    registerFormBody(scope);
    scope.setErrorHandler((error, request, reply) => {
      const verityError = toVerityError(error);
      if (verityError.status >= 500) request.log.error({ err: error }, 'token endpoint failed');
      const oauth = OAUTH_ERRORS[verityError.code] ?? (verityError.code.startsWith('ERR_TOKEN_') ? 'invalid_grant' : undefined);
      reply
        .status(verityError.status)
        .header('cache-control', 'no-store')
        .send({ ...verityError.toJSON(), ...(oauth ? { error: oauth, error_description: verityError.message } : {}) });
    });

    scope.get('/tenants/:tenant/.well-known/openid-configuration', async (request) => {
      const tenant = tenantParam(request, { write: false });
      await requireTenant(c.store, tenant);
      return (await c.tokens.issuer(tenant)).discoveryMetadata(c.tokens.issuerUrl(tenant));
    });

    scope.get('/tenants/:tenant/.well-known/jwks.json', async (request) => {
      const tenant = tenantParam(request, { write: false });
      await requireTenant(c.store, tenant);
      return c.tokens.jwks(tenant);
    });

    const authenticate = async (request: FastifyRequest, tenant: string): Promise<StsClient> => {
      const result = await authenticateClient({ headers: request.headers as Record<string, string>, form: form(request) }, (id) => c.tokens.client(tenant, id), {
        tokenEndpointUrl: `${c.tokens.issuerUrl(tenant)}/oauth2/token`,
        seenJti: { addIfAbsent: (key, exp) => seenJti.addIfAbsent(`${tenant}\u0000${key}`, exp) },
      });
      return result.client;
    };

    scope.post('/tenants/:tenant/oauth2/token', async (request, reply) => {
      const tenant = tenantParam(request, { write: false });
      await requireTenant(c.store, tenant);
      reply.header('cache-control', 'no-store');
      const params = form(request);
      const client = await authenticate(request, tenant);
      const issuer = await c.tokens.issuer(tenant);
      const grantType = readFormParam(params, 'grant_type');
      if (grantType === GRANT_TYPE_CLIENT_CREDENTIALS) {
        const scopeParam = readFormParam(params, 'scope');
        const audience = readFormParam(params, 'audience');
        return issueForClient({ client, issuer, ...(scopeParam === undefined ? {} : { scope: scopeParam }), ...(audience === undefined ? {} : { audience }) });
      }
      if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
        throw new VerityError(grantType === undefined ? 'ERR_STS_INVALID_REQUEST' : 'ERR_STS_UNSUPPORTED_GRANT_TYPE', 'grant_type must be client_credentials or token exchange');
      }
      const meta = metaOf(request);
      const verifyGrant = async (token: string | undefined) => {
        try {
          return await c.identity.verifySubjectToken(tenant, token, meta);
        } catch (error) {
          // RFC 8693 §2.2.2: an unacceptable subject or actor token is invalid_grant.
          if (isVerityError(error) && error.code.startsWith('ERR_TOKEN_')) throw new VerityError('ERR_STS_INVALID_GRANT', `the token was refused (${error.code})`);
          throw error;
        }
      };
      const verifiedSubject = await verifyGrant(readFormParam(params, 'subject_token'));
      const actorToken = readFormParam(params, 'actor_token');
      const verifiedActor = actorToken === undefined ? undefined : await verifyGrant(actorToken);
      return exchangeToken({
        form: params,
        client,
        verifiedSubject,
        ...(verifiedActor ? { verifiedActor } : {}),
        issuer,
        // Whether this client may exchange at all is the tenant's own Cedar policy.
        authorize: async (ask) => {
          const record = await c.decisions.decide({
            tenant,
            request: {
              kind: 'cedar',
              request: {
                principal: ask.principal,
                action: { type: 'Action', id: 'exchange' },
                resource: { type: 'Audience', id: ask.resource.audience },
                context: { subject: ask.context.subject, scopes: ask.context.scopes, actors: ask.context.actors },
              },
            },
            meta,
          });
          return record.decision === 'allow';
        },
      });
    });

    // RFC 7009: the answer is 200 whether or not the token was valid or known.
    scope.post('/tenants/:tenant/oauth2/revoke', async (request, reply) => {
      const tenant = tenantParam(request, { write: false });
      await requireTenant(c.store, tenant);
      const params = form(request);
      const client = await authenticate(request, tenant);
      const token = readFormParam(params, 'token');
      if (token === undefined) throw new VerityError('ERR_STS_INVALID_REQUEST', 'token is required');
      const verified = await c.identity.verifyOwnToken(tenant, token);
      // Only tokens this service issued, to this client, are revoked by it (RFC 7009 §2.1).
      if (verified && verified.clientId === client.id && verified.tokenId !== null) {
        await c.identity.revoke(tenant, { jti: verified.tokenId, exp: verified.expiresAt });
      }
      reply.header('cache-control', 'no-store');
      return {};
    });
  });
}
