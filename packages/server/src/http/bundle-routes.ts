/**
 * Signed policy bundles for PEPs that decide in-process: the tenant's active version, settings,
 * entities, identity sources and revocations, signed with the tenant's token-service key.
 * A PEP verifies it against `/tenants/{t}/.well-known/jwks.json` and refreshes it when the
 * change stream says something changed.
 */
import type { FastifyInstance } from 'fastify';
import { VerityError, type Entity } from '@verity/core';
import { signBundle } from '@verity/identity';
import { requireDecide, tenantParam, type Components } from './context.js';

/** A bundle carries every entity of the tenant; past this, PEPs must use the remote source. */
const MAX_BUNDLE_ENTITIES = 100_000;

export function registerBundleRoutes(app: FastifyInstance, c: Components): void {
  app.get('/tenants/:tenant/bundle', async (request, reply) => {
    const tenant = tenantParam(request, { write: false });
    await requireDecide(c, request, tenant);
    const active = await c.policies.active(tenant);
    const entities: Entity[] = [];
    for (let after: string | undefined; ; ) {
      const page = await c.store.entities.list(tenant, { limit: 1000, ...(after ? { after } : {}) });
      entities.push(...page.entities);
      if (entities.length > MAX_BUNDLE_ENTITIES) throw new VerityError('ERR_REQUEST_TOO_LARGE', `the tenant has more than ${MAX_BUNDLE_ENTITIES} entities: decide remotely`);
      if (!page.next) break;
      after = page.next;
    }
    const identitySources = (await c.store.identity.listSources(tenant)).map((row) => ({ id: row.id, ...row.config }));
    const bundle = {
      tenant,
      version: active.version,
      hash: active.hash,
      content: active.content,
      settings: active.tenant.settings,
      entities,
      identitySources,
      revocations: c.identity.revocationsOf(tenant),
    };
    const token = await signBundle(c.tokens.ring(tenant), { issuer: c.tokens.issuerUrl(tenant), bundle });
    reply.header('cache-control', 'no-store');
    return { tenant, version: active.version, hash: active.hash, bundle: token };
  });
}
