/** Admin API: credentials, policy stores, receipt keys (tenants: tenant-routes.ts). Each call is a Cedar decision in `_system`. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CREDENTIAL_ROLES, CREDENTIAL_ROLE_LIST, isCredentialRole, toCredentialView } from '../admin/credentials.js';
import { isPlainObject, VerityError, type TemplateLink } from '@verity/core';
import { assertTenantId } from '../tenant-service.js';
import { requireAdmin, tenantParam, type Components } from './context.js';
import { integerParam, sinceOf } from './data-routes.js';
import { DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT } from '../replay-service.js';

export function body(request: { body: unknown }): Record<string, unknown> {
  if (!isPlainObject(request.body)) throw new VerityError('ERR_REQUEST_INVALID', 'the body must be a JSON object');
  return request.body;
}

export function optionalString(value: unknown, name: string, max = 4096): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max) throw new VerityError('ERR_REQUEST_INVALID', `${name} must be a string of at most ${max} characters`);
  return value;
}

export function versionParam(value: unknown, name: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new VerityError('ERR_REQUEST_INVALID', `${name} must be a positive version number`);
  return n;
}

/** The policy-files part of a push body, checked for shape (Cedar checks the content). */
function parsePushBody(b: Record<string, unknown>) {
  // `files` is required (an empty object is a deliberate deny-everything version): a body
  // without it is a mistake, not a request to empty the store.
  const files = b.files;
  if (!isPlainObject(files) || Object.entries(files).some(([name, text]) => typeof text !== 'string' || !/^[\w.-]{1,128}$/.test(name))) {
    throw new VerityError('ERR_REQUEST_INVALID', 'files must map file names to Cedar policy text');
  }
  const mode = b.validationMode;
  if (mode !== undefined && mode !== 'strict' && mode !== 'off') throw new VerityError('ERR_REQUEST_INVALID', 'validationMode must be "strict" or "off"');
  const links = b.links ?? [];
  if (!Array.isArray(links) || links.some((l) => typeof l !== 'object' || l === null || typeof l.id !== 'string' || typeof l.templateId !== 'string' || typeof l.values !== 'object' || l.values === null)) {
    throw new VerityError('ERR_REQUEST_INVALID', 'links must be [{id, templateId, values}]');
  }
  const schema = optionalString(b.schema, 'schema', 1024 * 1024);
  return {
    files: files as Record<string, string>,
    links: links as TemplateLink[],
    ...(schema === undefined ? {} : { schema }),
    ...(mode === undefined ? {} : { validationMode: mode as 'strict' | 'off' }),
  };
}

function credentialIdParam(request: FastifyRequest): string {
  const id = (request.params as { id?: unknown }).id;
  if (typeof id !== 'string' || !/^[\w.-]{1,128}$/.test(id)) throw new VerityError('ERR_CREDENTIAL_NOT_FOUND', 'no such credential');
  return id;
}

/**
 * Credentials: platform-wide under /admin/v1/credentials, one tenant's under
 * /admin/v1/tenants/{t}/credentials. Tokens are shown once (create, rotate), never listed.
 */
function registerCredentialRoutes(app: FastifyInstance, c: Components): void {
  async function create(request: FastifyRequest, reply: FastifyReply, scopeTenant: string | null) {
    const b = body(request);
    const role = b.role;
    if (!isCredentialRole(role)) throw new VerityError('ERR_REQUEST_INVALID', `role must be ${CREDENTIAL_ROLE_LIST}`);
    const platformWide = CREDENTIAL_ROLES[role] === 'platform';
    if (scopeTenant !== null && platformWide) throw new VerityError('ERR_REQUEST_INVALID', 'a tenant credential is a policy-author, a pep or a pep-local');
    const tenant = platformWide ? null : (scopeTenant ?? assertTenantId(b.tenant));
    await requireAdmin(c, request, 'credential.create', scopeTenant);
    if (tenant !== null) await c.tenants.get(tenant);
    const { credential, token } = await c.credentials.issue({ role, tenant, label: optionalString(b.label, 'label', 256) ?? '' });
    reply.code(201);
    return { ...toCredentialView(credential), token };
  }

  app.post('/admin/v1/credentials', async (request, reply) => create(request, reply, null));
  app.get('/admin/v1/credentials', async (request) => {
    await requireAdmin(c, request, 'credential.list', null);
    return { credentials: await c.credentials.list(null) };
  });
  app.post('/admin/v1/credentials/:id/revoke', async (request) => {
    const id = credentialIdParam(request);
    await requireAdmin(c, request, 'credential.revoke', null);
    return c.credentials.revoke(id, null);
  });
  app.post('/admin/v1/credentials/:id/rotate', async (request) => {
    const id = credentialIdParam(request);
    await requireAdmin(c, request, 'credential.rotate', null);
    const { credential, token } = await c.credentials.rotate(id, null);
    return { ...credential, token };
  });

  app.post('/admin/v1/tenants/:tenant/credentials', async (request, reply) => create(request, reply, tenantParam(request, { write: true })));
  app.get('/admin/v1/tenants/:tenant/credentials', async (request) => {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, 'credential.list', tenant);
    await c.tenants.get(tenant);
    return { credentials: await c.credentials.list({ tenant }) };
  });
  app.post('/admin/v1/tenants/:tenant/credentials/:id/revoke', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = credentialIdParam(request);
    await requireAdmin(c, request, 'credential.revoke', tenant);
    return c.credentials.revoke(id, { tenant });
  });
  app.post('/admin/v1/tenants/:tenant/credentials/:id/rotate', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const id = credentialIdParam(request);
    await requireAdmin(c, request, 'credential.rotate', tenant);
    const { credential, token } = await c.credentials.rotate(id, { tenant });
    return { ...credential, token };
  });
}

export function registerAdminRoutes(app: FastifyInstance, c: Components): void {
  const admin = { bodyLimit: c.config.maxAdminBodyBytes };

  registerCredentialRoutes(app, c);
  registerReceiptKeyRoutes(app, c);

  app.post('/admin/v1/tenants/:tenant/policies', admin, async (request, reply) => {
    const tenant = tenantParam(request, { write: true });
    const b = body(request);
    const files = parsePushBody(b);
    const credential = await requireAdmin(c, request, 'policy.write', tenant);
    await c.tenants.get(tenant);
    if (b.dryRun === true) {
      await c.policies.validate(files);
      return { valid: true };
    }
    const info = await c.policies.push(tenant, { ...files, createdBy: credential.label || credential.id, message: optionalString(b.message, 'message') ?? '', activate: b.activate !== false });
    reply.code(201);
    return info;
  });

  app.get('/admin/v1/tenants/:tenant/policies/versions', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    return { versions: await c.policies.versions(tenant) };
  });

  app.get('/admin/v1/tenants/:tenant/policies/versions/:version', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    const raw = (request.params as { version: string }).version;
    return c.policies.version(tenant, raw === 'active' ? 'active' : versionParam(raw, 'version'));
  });

  app.get('/admin/v1/tenants/:tenant/policies/diff', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'policy.read', tenant);
    const q = request.query as Record<string, unknown>;
    return c.policies.diff(tenant, versionParam(q.from, 'from'), versionParam(q.to, 'to'));
  });

  // Replay: a candidate (a stored version, or files as a push sends them) decided again on the
  // decisions recorded since a time; it reads the audit, so it needs `audit.read` too.
  app.post('/admin/v1/tenants/:tenant/policies/replay', admin, async (request) => {
    const tenant = tenantParam(request, { write: false });
    const b = body(request);
    const candidate = b.version !== undefined ? { version: versionParam(b.version, 'version') } : isPlainObject(b.candidate) ? { files: parsePushBody(b.candidate) } : undefined;
    if (candidate === undefined) throw new VerityError('ERR_REQUEST_INVALID', 'give the candidate: version (a stored version) or candidate ({files, schema?, links?, validationMode?}, as a push)');
    const since = sinceOf(optionalString(b.since, 'since', 64));
    const limit = integerParam(b.limit, 'limit', 1, MAX_REPLAY_LIMIT, DEFAULT_REPLAY_LIMIT);
    const baseline = b.baseline === undefined ? undefined : { version: versionParam(b.baseline, 'baseline') };
    await requireAdmin(c, request, 'policy.test', tenant);
    await requireAdmin(c, request, 'audit.read', tenant);
    return c.replay.replay(tenant, { since, limit, candidate, ...(baseline === undefined ? {} : { baseline }) });
  });

  app.post('/admin/v1/tenants/:tenant/policies/activate', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const version = versionParam(body(request).version, 'version');
    await requireAdmin(c, request, 'policy.write', tenant);
    return c.policies.activate(tenant, version);
  });
}

function receiptKidParam(request: FastifyRequest): string {
  const kid = (request.params as { kid?: unknown }).kid;
  if (typeof kid !== 'string' || !/^[\w-]{1,64}$/.test(kid)) throw new VerityError('ERR_RECEIPT_KEY_NOT_FOUND', 'no such receipt key');
  return kid;
}

/**
 * Data-tier receipt keys of a tenant (docs/http-api.md, "Data-tier receipt keys"): platform
 * admins only. Secrets appear in the create and export answers alone, never in a list or a log.
 */
function registerReceiptKeyRoutes(app: FastifyInstance, c: Components): void {
  const base = '/admin/v1/tenants/:tenant/receipt-keys';
  async function authorized(request: FastifyRequest, action: 'receipt-key.list' | 'receipt-key.create' | 'receipt-key.export' | 'receipt-key.activate'): Promise<string> {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, action, tenant);
    await c.tenants.get(tenant);
    return tenant;
  }

  app.get(base, async (request) => ({ keys: await c.receipts.list(await authorized(request, 'receipt-key.list')) }));
  app.post(base, async (request, reply) => {
    const created = await c.receipts.create(await authorized(request, 'receipt-key.create'));
    reply.code(201);
    return created;
  });
  app.post(`${base}/export`, async (request) => ({ keys: await c.receipts.exportKeys(await authorized(request, 'receipt-key.export')) }));
  app.post(`${base}/:kid/activate`, async (request) => {
    const kid = receiptKidParam(request);
    return c.receipts.activate(await authorized(request, 'receipt-key.activate'), kid);
  });
}
