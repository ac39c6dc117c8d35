/**
 * The reserved `_system` tenant: its Cedar policies decide who may administer Verity, and its
 * audit chain records every admin decision and refused credential.
 */
import { readFile } from 'node:fs/promises';
import { hashPolicyContent, VerityError } from '@verity/core';
import type { Credential, Store } from '@verity/store';
import type { AuditWriter } from '../audit-writer.js';
import { recordSecurityEvent } from '../security-event.js';
import type { CedarValue, DecisionMeta } from '@verity/core';
import type { AuditMode, DecisionService } from '../decision-service.js';
import type { ActivePolicy, PolicyService } from '../policy-service.js';
import type { Freshness } from '../freshness.js';

export const SYSTEM_TENANT = '_system';

export type AdminAction =
  | 'tenant.create'
  | 'tenant.list'
  | 'metrics.read'
  | 'credential.create'
  | 'credential.list'
  | 'credential.revoke'
  | 'credential.rotate'
  | 'tenant.read'
  | 'tenant.update'
  | 'tenant.delete'
  | 'audit.remove'
  | 'policy.read'
  | 'policy.write'
  | 'policy.test'
  | 'entity.read'
  | 'entity.write'
  | 'audit.read'
  | 'decide'
  | 'bundle.read'
  | 'audit.report'
  | 'receipt-key.list'
  | 'receipt-key.create'
  | 'receipt-key.export'
  | 'receipt-key.activate'
  | 'workload.read'
  | 'workload.manage'
  | 'ca.manage'
  | 'device.read'
  | 'device.manage'
  | 'threat-list.read'
  | 'threat-list.manage';

// Credential actions name the tenant when the call is tenant-scoped (the audit shows whose);
// the shipped policies grant them to platform admins only.
const PLATFORM_ACTIONS = new Set<AdminAction>(['tenant.create', 'tenant.list', 'metrics.read']);

/** Create the system tenant, or push a new version when the shipped policies changed. */
export async function ensureSystemTenant(store: Store, policies: PolicyService): Promise<void> {
  const here = new URL('./', import.meta.url);
  const [policyText, schema] = await Promise.all([readFile(new URL('system-policies.cedar', here), 'utf8'), readFile(new URL('system-schema.cedarschema', here), 'utf8')]);
  if (!(await store.tenants.get(SYSTEM_TENANT))) {
    try {
      await store.tenants.create({ id: SYSTEM_TENANT, name: 'Verity administration', settings: { actionType: 'Verity::Action' } });
    } catch (error) {
      // Another replica created it first.
      if (!(error instanceof VerityError && error.code === 'ERR_TENANT_EXISTS')) throw error;
    }
  }
  const content = await policies.validate({ files: { 'system-policies.cedar': policyText }, schema });
  const active = await store.policies.getActive(SYSTEM_TENANT);
  if (active?.hash !== hashPolicyContent(content)) {
    await policies.push(SYSTEM_TENANT, { files: { 'system-policies.cedar': policyText }, schema, createdBy: 'verity', message: 'system policies shipped with this Verity release' });
  }
}

export interface AdminAuthorizer {
  /**
   * Throws ERR_AUTH_FORBIDDEN unless the system policies permit `action` on the tenant (or the
   * platform). The checks made on every PEP call (`decide`, `audit.report`), whose allows are not
   * audited, remember their allow for the active system policy version: a new version (or a
   * stale view, ERR_POLICY_STALE) ends it; the credential itself is authenticated every call.
   * `context` (default empty) is the request's Cedar context, recorded with the decision: what
   * an irreversible action was asked to do (`audit.remove`: the head the export reached).
   */
  require(credential: Credential, action: AdminAction, tenant: string | null, meta: DecisionMeta, context?: Record<string, CedarValue>): Promise<void>;
  /** Record a refused credential (bad or missing token) in the system audit. */
  recordAuthFailure(code: string, meta: DecisionMeta): Promise<void>;
}

export interface AdminAuthorizerOptions {
  decisions: DecisionService;
  audit: AuditWriter;
  policies: PolicyService;
  freshness?: Freshness;
}

export function createAdminAuthorizer({ decisions, audit, policies, freshness }: AdminAuthorizerOptions): AdminAuthorizer {
  /** Allows of unaudited checks, per view of the system policies (a new view starts empty). */
  const allowed = new WeakMap<ActivePolicy, Set<string>>();
  return {
    async require(credential, action, tenant, meta, context = {}) {
      // `decide` and `audit.report` are checked on every PEP call: audit only their refusals there, all admin actions otherwise.
      const auditMode: AuditMode = action === 'decide' || action === 'audit.report' ? 'deny-only' : 'always';
      let remember: (() => void) | undefined;
      if (auditMode === 'deny-only') {
        const view = await policies.active(SYSTEM_TENANT);
        freshness?.assertFresh(SYSTEM_TENANT, view.readAt);
        // The decision reads only this: the credential's id, role and tenant, the action, the resource.
        const key = JSON.stringify([credential.id, credential.role, credential.tenant, action, tenant]);
        let known = allowed.get(view);
        if (known?.has(key)) return;
        remember = () => {
          if (known === undefined) allowed.set(view, (known = new Set()));
          if (known.size < 10_000) known.add(key);
        };
      }
      const principal = { type: 'Verity::Credential', id: credential.id };
      const resource = PLATFORM_ACTIONS.has(action) || tenant === null ? { type: 'Verity::Platform', id: 'verity' } : { type: 'Verity::Tenant', id: tenant };
      const attrs: Record<string, unknown> = { role: credential.role };
      if (credential.tenant !== null) attrs.tenant = { __entity: { type: 'Verity::Tenant', id: credential.tenant } };
      const record = await decisions.decide({
        tenant: SYSTEM_TENANT,
        request: {
          kind: 'cedar',
          request: { principal, action: { type: 'Verity::Action', id: action }, resource, context },
          entities: [{ uid: principal, attrs: attrs as never, parents: [] }],
        },
        meta,
        audit: auditMode,
      });
      if (record.decision !== 'allow') throw new VerityError('ERR_AUTH_FORBIDDEN', `this credential may not ${action}${tenant ? ` on tenant "${tenant}"` : ''}`);
      remember?.();
    },

    async recordAuthFailure(code, meta) {
      await recordSecurityEvent(audit, {
        tenant: SYSTEM_TENANT,
        principal: { type: 'Verity::Credential', id: 'unauthenticated' },
        action: { type: 'Verity::Action', id: 'authenticate' },
        resource: { type: 'Verity::Platform', id: 'verity' },
        code,
        check: 'authentication',
        meta,
      });
    },
  };
}
