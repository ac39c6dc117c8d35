/**
 * The Shared Signals receiver (OpenID SSF 1.0, CAEP 1.0): a tenant's registered transmitters push
 * Security Event Tokens (RFC 8417) by RFC 8935; each verified, unreplayed SET's CAEP events
 * revoke a subject's tokens, change a device's compliance, or record an assurance level. The
 * effects travel on the change feed (`revocation`, `device`, `assurance`), so they reach every
 * replica and every PEP within a second. Every refusal is a security event in the tenant's audit.
 */
import { isStorableText, VerityError, type DecisionMeta } from '@verity/core';
import { setError, verifySecurityEventToken, type KeyResolver, type VerifiedSet } from '@verity/identity';
import type { Store, StoredSsfTransmitter } from '@verity/store';
import type { AuditWriter } from '../audit-writer.js';
import type { DeviceService } from '../device/device-service.js';
import type { IdentityService } from '../identity/identity-service.js';
import { recordSecurityEvent } from '../security-event.js';
import type { AssuranceService } from './assurance-service.js';
import { caepEffectsOf, type CaepEffect, type UserSubject } from './caep-events.js';
import { parseTransmitterConfig, isSsfId } from './ssf-config.js';

/** A transmitter as the admin API shows it. */
export interface TransmitterView {
  id: string;
  tenant: string;
  issuer: string;
  /** Its keys inline, or null when `jwks_uri` names them. */
  jwks: { keys: Array<Record<string, unknown>> } | null;
  jwks_uri: string | null;
  /** The `aud` its SETs must carry (the tenant's default receiver audience when none was given). */
  audience: string;
  updated_at: string;
}

/** What a push did: every known event applied (`applied`), the event types ignored. */
export interface ReceiveOutcome {
  /** The id of the transmitter that sent it. */
  transmitter: string;
  jti: string;
  applied: number;
  ignored: string[];
}

export interface SsfReceiver {
  /** Register or replace a transmitter. ERR_SSF_TRANSMITTER_INVALID, ERR_TENANT_NOT_FOUND. */
  putTransmitter(tenant: string, id: string, body: unknown): Promise<{ transmitter: TransmitterView; created: boolean }>;
  listTransmitters(tenant: string): Promise<TransmitterView[]>;
  /** ERR_SSF_TRANSMITTER_NOT_FOUND. */
  removeTransmitter(tenant: string, id: string): Promise<void>;
  /**
   * Take a pushed SET (the compact JWS, as the body carried it): verify, refuse a replay, apply.
   * Refusals are audited and thrown: ERR_SSF_SET_* and ERR_SSF_SUBJECT_UNSUPPORTED (400).
   */
  receive(tenant: string, set: string, meta: DecisionMeta): Promise<ReceiveOutcome>;
  /** The default `aud` of the tenant's SETs: `{public base URL}/ssf/v1/tenants/{tenant}`. */
  defaultAudience(tenant: string): string;
}

export interface SsfReceiverOptions {
  store: Store;
  /** Revocations (by principal id) and the tenant's identity sources (to map `iss_sub`/`email`). */
  identity: Pick<IdentityService, 'revoke' | 'listSources'>;
  devices: Pick<DeviceService, 'list' | 'report'>;
  assurance: Pick<AssuranceService, 'set'>;
  audit: AuditWriter;
  /** The public base URL (public-url.ts) and the tenant's own issuer (its tokens map `sub`). */
  baseUrl: () => string;
  issuerUrl: (tenant: string) => string;
  /** Fetches the JWKS of a transmitter registered by `jwks_uri` (through the guarded fetch). */
  keys: Pick<KeyResolver, 'keysForUri'>;
  /** Accept a `jwks_uri` on http or a loopback/private host (the server's `allowInsecureIdentitySources`). */
  allowInsecure: boolean;
  /** Clock, epoch ms (default `Date.now`). */
  now?: () => number;
  /** Oldest SET accepted, by `iat` (default 3600 s); its `jti` is remembered that long. */
  maxAgeSec?: number;
  /** A transmitter's clock may run this far ahead (default 60 s). */
  clockSkewSec?: number;
}

const notFound = () => new VerityError('ERR_SSF_TRANSMITTER_NOT_FOUND', 'no such SSF transmitter');

/** Whether any string in `value` (keys included, at any depth) has a NUL or an unpaired surrogate. */
function holdsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (!isStorableText(item)) return true;
    } else if (Array.isArray(item)) {
      for (const element of item) stack.push(element);
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, element] of Object.entries(item)) {
        if (!isStorableText(key)) return true;
        stack.push(element);
      }
    }
  }
  return false;
}
/** How often a push also forgets used SET ids past their window. */
const SWEEP_EVERY_MS = 60_000;

/** A device event's new posture: the last report with the transmitter's verdict in place of the MDM's. */
async function applyDevice(devices: SsfReceiverOptions['devices'], tenant: string, effect: Extract<CaepEffect, { kind: 'device' }>): Promise<boolean> {
  const device = (await devices.list(tenant)).find((candidate) => candidate.id === effect.deviceId);
  // Checked before the SET was taken; removed since: nothing to change (it is `unknown` to the risk engine now).
  if (device === undefined) return false;
  try {
    await devices.report(tenant, device.id, { ...device.posture, compliant: effect.compliant });
    return true;
  } catch (error) {
    if (error instanceof VerityError && error.code === 'ERR_DEVICE_NOT_FOUND') return false;
    throw error;
  }
}

/**
 * Create the receiver.
 *
 * @example
 * const ssf = createSsfReceiver({ store, identity, devices, assurance, audit, baseUrl: tokens.baseUrl, issuerUrl: tokens.issuerUrl, keys: createKeyResolver(), allowInsecure: false });
 * await ssf.receive('acme', setFromBody, { requestId: 'r-1', tier: null });
 */
export function createSsfReceiver(options: SsfReceiverOptions): SsfReceiver {
  const { store, identity, audit } = options;
  const now = options.now ?? Date.now;
  const maxAgeSec = options.maxAgeSec ?? 3600;
  const clockSkewSec = options.clockSkewSec ?? 60;
  const defaultAudience = (tenant: string) => `${options.baseUrl()}/ssf/v1/tenants/${tenant}`;
  let lastSweep = -Infinity;

  function sweep(): void {
    const time = now();
    if (time - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = time;
    // Housekeeping only: useJti takes over an expired entry itself, so a failed sweep changes no answer.
    store.ssf.pruneJtis(time).catch(() => {});
  }

  const toView = (row: StoredSsfTransmitter): TransmitterView => ({
    id: row.id,
    tenant: row.tenant,
    issuer: row.issuer,
    jwks: row.jwks,
    jwks_uri: row.jwksUri,
    audience: row.audience ?? defaultAudience(row.tenant),
    updated_at: new Date(row.updatedAtMs).toISOString(),
  });

  async function requireTenant(tenant: string): Promise<void> {
    if ((await store.tenants.get(tenant)) === null) throw new VerityError('ERR_TENANT_NOT_FOUND', `tenant "${tenant}" does not exist`);
  }

  /**
   * The principal id a token of `subject` maps to: `opaque` is the principal id itself; `iss_sub`
   * is the `sub` when one of the tenant's identity sources (or its own token service) has that
   * issuer and maps the principal from `sub`; `email` likewise for a source mapping `email`.
   */
  async function principalOf(tenant: string, subject: UserSubject): Promise<string> {
    if (subject.format === 'opaque') return subject.id;
    const sources = await identity.listSources(tenant);
    if (subject.format === 'iss_sub') {
      const own = subject.iss === options.issuerUrl(tenant);
      if (own || sources.some((source) => source.issuer === subject.iss && source.claims.idClaim === 'sub')) return subject.sub;
      throw setError('ERR_SSF_SUBJECT_UNSUPPORTED', 'no identity source of the tenant has that iss and maps its principal from sub');
    }
    if (sources.some((source) => source.claims.idClaim === 'email')) return subject.email;
    throw setError('ERR_SSF_SUBJECT_UNSUPPORTED', 'no identity source of the tenant maps its principal from email');
  }

  async function refuse(tenant: string, error: unknown, meta: DecisionMeta, transmitter: string): Promise<never> {
    if (error instanceof VerityError && error.code.startsWith('ERR_SSF_')) {
      await recordSecurityEvent(audit, {
        tenant,
        principal: { type: 'Verity::SsfTransmitter', id: transmitter },
        action: { type: 'Verity::Action', id: 'ssf.push' },
        resource: { type: 'Verity::Tenant', id: tenant },
        code: error.code,
        check: 'ssf',
        meta,
        now: now(),
      });
    }
    throw error;
  }

  /**
   * Every effect with its subject mapped (before the jti is spent: a refusal leaves it unused). A
   * device event names a registered device of the tenant, else the SET is refused
   * (ERR_SSF_SUBJECT_UNSUPPORTED): acknowledging it would tell the MDM a signal landed that
   * changed nothing.
   */
  async function resolve(tenant: string, set: VerifiedSet) {
    const { effects, ignored } = caepEffectsOf(set, now() / 1000 + clockSkewSec);
    const registered = effects.some((effect) => effect.kind === 'device') ? new Set((await options.devices.list(tenant)).map((device) => device.id)) : new Set<string>();
    const resolved = await Promise.all(
      effects.map(async (effect) => {
        if (effect.kind !== 'device') return { effect, principal: await principalOf(tenant, effect.subject) };
        if (!registered.has(effect.deviceId)) throw setError('ERR_SSF_SUBJECT_UNSUPPORTED', 'the device is not registered in this tenant');
        return { effect, principal: null };
      }),
    );
    return { resolved, ignored };
  }

  return {
    async putTransmitter(tenant, id, body) {
      if (!isSsfId(id)) throw new VerityError('ERR_SSF_TRANSMITTER_INVALID', 'a transmitter id is 1–128 letters, digits, ".", "_" or "-"');
      const config = parseTransmitterConfig(body, options.allowInsecure);
      await requireTenant(tenant);
      // One transmitter per issuer: the SET's iss picks the keys that verify it.
      const clash = (await store.ssf.listTransmitters(tenant)).find((other) => other.issuer === config.issuer && other.id !== id);
      if (clash !== undefined) throw new VerityError('ERR_SSF_TRANSMITTER_INVALID', `transmitter "${clash.id}" has that issuer already`);
      const { transmitter, created } = await store.ssf.putTransmitter({ tenant, id, ...config, updatedAtMs: now() });
      return { transmitter: toView(transmitter), created };
    },

    async listTransmitters(tenant) {
      await requireTenant(tenant);
      return (await store.ssf.listTransmitters(tenant)).map(toView);
    },

    async removeTransmitter(tenant, id) {
      if (!isSsfId(id) || !(await store.ssf.removeTransmitter(tenant, id))) throw notFound();
    },

    async receive(tenant, token, meta) {
      await requireTenant(tenant);
      sweep();
      const transmitters = (await store.ssf.listTransmitters(tenant)).map((row) => ({ ...row, audience: row.audience ?? defaultAudience(tenant) }));
      let set: VerifiedSet;
      try {
        set = await verifySecurityEventToken(token, transmitters, { nowMs: now(), maxAgeSec, clockSkewSec, resolver: options.keys });
      } catch (error) {
        return refuse(tenant, error, meta, 'rejected');
      }
      let plan: Awaited<ReturnType<typeof resolve>>;
      try {
        // What a SET says is stored (revocations, device posture, assurance, its jti): text
        // neither PostgreSQL nor UTF-8 can hold is refused, as in a JSON body.
        if (holdsUnstorableText(set)) throw setError('ERR_SSF_SET_INVALID', 'the SET holds a NUL or an unpaired surrogate');
        plan = await resolve(tenant, set);
        // Remembered until the SET would be refused as too old anyway.
        const expMs = (set.iat + maxAgeSec + clockSkewSec) * 1000;
        if (!(await store.ssf.useJti(tenant, { issuer: set.issuer, jti: set.jti, expMs }, now()))) throw setError('ERR_SSF_SET_REPLAYED', 'this SET (jti) was received already');
      } catch (error) {
        return refuse(tenant, error, meta, set.transmitter);
      }
      try {
        for (const { effect, principal } of plan.resolved) {
          if (effect.kind === 'device') await applyDevice(options.devices, tenant, effect);
          // The revocation's cutoff is now (≥ the event time): a token issued since is refused too.
          else if (effect.kind === 'revoke') await identity.revoke(tenant, { subject: principal as string });
          else await options.assurance.set(tenant, principal as string, { acr: effect.acr, atMs: effect.atSec * 1000 });
        }
      } catch (error) {
        // Not applied (the store failed): the SET may come again. Its effects are idempotent.
        await store.ssf.forgetJti(tenant, set.issuer, set.jti).catch(() => {});
        throw error;
      }
      return { transmitter: set.transmitter, jti: set.jti, applied: plan.resolved.length, ignored: plan.ignored };
    },

    defaultAudience,
  };
}
