/**
 * Workload identity over HTTP (docs/http-api.md, "Workload identity"). Admin: registrations,
 * join tokens and the CA of a tenant, each call a decision in `_system`. Workload-facing, with no
 * credential (the proof is the join token, the Kubernetes token or the current SVID): attest,
 * renew, JWT-SVIDs and the trust bundle; the deny list for the tenant's PEPs.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VerityError } from '@verity/core';
import { toSpiffeBundleJson } from '@verity/workload/core';
import type { IssuedSvid } from '../workload/svid-service.js';
import { parseAttestRequest, parseJwtSvidRequest, parseRenewRequest } from '../workload/svid-requests.js';
import { metaOf, requireAdmin, requireDecide, tenantParam, type Components } from './context.js';

/** Every workload-facing body is small: a CSR, a proof or a token, each bounded on its own too. */
const WORKLOAD_BODY_BYTES = 64 * 1024;

const iso = (ms: number) => new Date(ms).toISOString();

function workloadIdParam(request: FastifyRequest): string {
  const id = (request.params as { id?: unknown }).id;
  if (typeof id !== 'string' || !/^[\w.-]{1,128}$/.test(id)) throw new VerityError('ERR_WORKLOAD_NOT_FOUND', 'no such workload registration');
  return id;
}

function svidAnswer(issued: IssuedSvid) {
  return {
    spiffe_id: issued.spiffeId,
    x509_svid: issued.certChainPem,
    expires_at: iso(issued.expiresAtMs),
    bundle: toSpiffeBundleJson(issued.bundle),
    bundle_sequence: issued.bundle.sequence,
  };
}

function registerAdminWorkloadRoutes(app: FastifyInstance, c: Components): void {
  const base = '/admin/v1/tenants/:tenant';
  /** The tenant of an admin call, once the credential may `action` on it and it exists. */
  async function authorized(request: FastifyRequest, action: 'workload.read' | 'workload.manage' | 'ca.manage'): Promise<string> {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, action, tenant);
    await c.tenants.get(tenant);
    return tenant;
  }

  app.post(`${base}/workloads`, async (request, reply) => {
    const tenant = await authorized(request, 'workload.manage');
    const created = await c.workloads.registry.register(tenant, request.body);
    reply.code(201);
    return created;
  });

  app.get(`${base}/workloads`, async (request) => ({ workloads: await c.workloads.registry.list(await authorized(request, 'workload.read')) }));

  app.delete(`${base}/workloads/:id`, async (request) => {
    const id = workloadIdParam(request);
    const removed = await c.workloads.registry.remove(await authorized(request, 'workload.manage'), id);
    return { removed: true, denied_until: iso(removed.untilMs) };
  });

  app.post(`${base}/workloads/:id/join-tokens`, async (request, reply) => {
    const id = workloadIdParam(request);
    const tenant = await authorized(request, 'workload.manage');
    const { token, expiresAtMs } = await c.workloads.registry.createJoinToken(tenant, id, request.body);
    reply.code(201).header('cache-control', 'no-store');
    return { join_token: token, expires_at: iso(expiresAtMs) };
  });

  app.get(`${base}/ca`, async (request) => c.workloads.ca.view(await authorized(request, 'workload.read')));
  app.post(`${base}/ca/rotate`, async (request) => c.workloads.ca.rotate(await authorized(request, 'ca.manage')));
}

function registerWorkloadFacingRoutes(app: FastifyInstance, c: Components): void {
  const base = '/workload/v1/tenants/:tenant';
  const limits = { bodyLimit: WORKLOAD_BODY_BYTES };
  /** The tenant of a workload call (never `_system`), once it exists. */
  async function existing(request: FastifyRequest): Promise<string> {
    const tenant = tenantParam(request, { write: true });
    await c.tenants.get(tenant);
    return tenant;
  }

  app.post(`${base}/attest`, limits, async (request, reply) => {
    const tenant = await existing(request);
    const issued = await c.workloads.svids.attest(tenant, parseAttestRequest(request.body), metaOf(request));
    reply.header('cache-control', 'no-store');
    return svidAnswer(issued);
  });

  app.post(`${base}/renew`, limits, async (request, reply) => {
    const tenant = await existing(request);
    const issued = await c.workloads.svids.renew(tenant, parseRenewRequest(request.body), metaOf(request));
    reply.header('cache-control', 'no-store');
    return svidAnswer(issued);
  });

  app.post(`${base}/jwt-svid`, limits, async (request, reply) => {
    const tenant = await existing(request);
    const issued = await c.workloads.svids.jwtSvid(tenant, parseJwtSvidRequest(request.body), metaOf(request));
    reply.header('cache-control', 'no-store');
    return { token: issued.token, expires_at: iso(issued.expiresAtMs) };
  });

  // Public: roots and public keys only, what every relying party of the trust domain needs.
  app.get(`${base}/bundle`, async (request, reply) => {
    const bundle = await c.workloads.bundle(await existing(request));
    reply.header('cache-control', 'no-store').header('x-verity-bundle-sequence', String(bundle.sequence));
    return toSpiffeBundleJson(bundle);
  });

  // For the tenant's PEPs (a credential that may `decide`, as for the change stream they follow).
  app.get(`${base}/denied`, async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    await requireDecide(c, request, tenant);
    await c.tenants.get(tenant);
    const { denied, sequence } = await c.workloads.deniedList(tenant);
    reply.header('cache-control', 'no-store');
    return { denied: denied.map((entry) => ({ spiffe_id: entry.spiffeId, until: iso(entry.untilMs) })), sequence };
  });
}

export function registerWorkloadRoutes(app: FastifyInstance, c: Components): void {
  registerAdminWorkloadRoutes(app, c);
  registerWorkloadFacingRoutes(app, c);
}
