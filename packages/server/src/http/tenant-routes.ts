/**
 * Admin API, tenants: create, list, read, settings changes and their versions (history, diff,
 * rollback), deletion, and the removal of a deleted tenant's exported audit. Each call is a
 * Cedar decision in `_system`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VerityError, type AuditChainHead } from '@verity/core';
import type { Credential } from '../admin/credentials.js';
import type { SettingsChangeContext } from '../tenant-service.js';
import { body, optionalString, versionParam } from './admin-routes.js';
import { requireAdmin, tenantParam, type Components } from './context.js';

/** Who a settings version is recorded as made by: the credential's label, else its id (as policy pushes). */
const authorOf = (credential: Credential): string => credential.label || credential.id;

/**
 * `If-Match: "N"` (RFC 9110 §13.1.1): change the settings only while they are at version N.
 * Absent or `*`: whatever the version. Versions are compared strongly, so a weak tag is refused.
 */
function ifVersionOf(request: FastifyRequest): number | undefined {
  const value = request.headers['if-match'];
  if (value === undefined || value.trim() === '*') return undefined;
  const match = /^"([1-9]\d{0,8})"$/.exec(value.trim());
  if (!match) throw new VerityError('ERR_REQUEST_INVALID', 'If-Match must be the settings version as an entity tag, e.g. "3" (the tenant\'s settingsVersion)');
  return Number(match[1]);
}

/** A settings change's context: its author, its optional message and its `If-Match`. */
function changeContext(request: FastifyRequest, credential: Credential, message: unknown): SettingsChangeContext {
  const text = optionalString(message, 'message', 1024);
  const ifVersion = ifVersionOf(request);
  return { createdBy: authorOf(credential), ...(text === undefined ? {} : { message: text }), ...(ifVersion === undefined ? {} : { ifVersion }) };
}

/** `exportedThrough=SEQ:HASH`: the chain head an export of the audit reached. */
function exportedThroughOf(request: FastifyRequest): AuditChainHead {
  const value = (request.query as Record<string, unknown>).exportedThrough;
  const match = typeof value === 'string' ? /^(0|[1-9]\d{0,14}):([0-9a-f]{64})$/.exec(value) : null;
  if (!match) throw new VerityError('ERR_REQUEST_INVALID', 'exportedThrough must be SEQ:HASH, the seq and hash of the last event exported (0 and the genesis hash for an empty audit)');
  return { seq: Number(match[1]), hash: match[2] as string };
}

export function registerTenantRoutes(app: FastifyInstance, c: Components): void {
  const admin = { bodyLimit: c.config.maxAdminBodyBytes };

  app.post('/admin/v1/tenants', admin, async (request, reply) => {
    const b = body(request);
    const credential = await requireAdmin(c, request, 'tenant.create', null);
    const tenant = await c.tenants.create({ id: b.id, name: b.name, settings: b.settings }, authorOf(credential));
    reply.code(201);
    return tenant;
  });

  app.get('/admin/v1/tenants', async (request) => {
    await requireAdmin(c, request, 'tenant.list', null);
    return { tenants: await c.tenants.list() };
  });

  app.get('/admin/v1/tenants/:tenant', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'tenant.read', tenant);
    return c.tenants.get(tenant);
  });

  // A merge patch of the settings, one level deep, stored as the next settings version
  // (docs/http-api.md, "Tenant settings").
  app.patch('/admin/v1/tenants/:tenant', admin, async (request) => {
    const tenant = tenantParam(request, { write: true });
    const { settings, message, ...rest } = body(request);
    if (Object.keys(rest).length > 0 || settings === undefined) throw new VerityError('ERR_REQUEST_INVALID', 'the body must be {settings: {...}, message?}');
    const credential = await requireAdmin(c, request, 'tenant.update', tenant);
    return c.tenants.updateSettings(tenant, settings, changeContext(request, credential, message));
  });

  app.get('/admin/v1/tenants/:tenant/settings/versions', async (request) => {
    const tenant = tenantParam(request, { write: false });
    await requireAdmin(c, request, 'tenant.read', tenant);
    return { versions: await c.tenants.settingsVersions(tenant) };
  });

  app.get('/admin/v1/tenants/:tenant/settings/versions/:version', async (request) => {
    const tenant = tenantParam(request, { write: false });
    const version = versionParam((request.params as { version: unknown }).version, 'version');
    await requireAdmin(c, request, 'tenant.read', tenant);
    return c.tenants.settingsVersion(tenant, version);
  });

  app.get('/admin/v1/tenants/:tenant/settings/diff', async (request) => {
    const tenant = tenantParam(request, { write: false });
    const q = request.query as Record<string, unknown>;
    const [from, to] = [versionParam(q.from, 'from'), versionParam(q.to, 'to')];
    await requireAdmin(c, request, 'tenant.read', tenant);
    return c.tenants.diffSettings(tenant, from, to);
  });

  // A rollback writes the old version's settings as a new version (docs/http-api.md says why).
  app.post('/admin/v1/tenants/:tenant/settings/rollback', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const { version, message, ...rest } = body(request);
    if (Object.keys(rest).length > 0) throw new VerityError('ERR_REQUEST_INVALID', 'the body must be {version, message?}');
    const target = versionParam(version, 'version');
    const credential = await requireAdmin(c, request, 'tenant.update', tenant);
    return c.tenants.rollbackSettings(tenant, target, changeContext(request, credential, message));
  });

  // Platform admins only (the shipped policies): everything of the tenant but its audit goes.
  app.delete('/admin/v1/tenants/:tenant', async (request) => {
    const tenant = tenantParam(request, { write: true });
    await requireAdmin(c, request, 'tenant.delete', tenant);
    return c.tenants.delete(tenant);
  });

  // A deleted tenant's kept audit, once exported; the check records the head the export reached.
  app.delete('/admin/v1/tenants/:tenant/audit', async (request) => {
    const tenant = tenantParam(request, { write: true });
    const through = exportedThroughOf(request);
    await requireAdmin(c, request, 'audit.remove', tenant, { context: { exported_through_seq: through.seq, exported_through_hash: through.hash } });
    return c.tenants.removeAudit(tenant, through);
  });
}
