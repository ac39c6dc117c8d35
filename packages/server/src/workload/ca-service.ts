/**
 * Each tenant's workload CA: an X.509 authority (root and intermediate) and a JWT-SVID key,
 * created on first use, sealed at rest with the master key, rotated on request (and by itself
 * when it nears its end or the tenant's trust domain changed). A retiring authority stays in the
 * trust bundle until everything it signed has expired.
 */
import { VerityError } from '@verity/core';
import type { SecretBox } from '@verity/identity';
import type { Store, StoredCaAuthority, StoredJwtAuthority } from '@verity/store';
import { generateCaAuthority, generateJwtAuthority, type CaAuthority, type JwtAuthority, type TrustBundle } from '@verity/workload/core';
import type { PublishChange } from '../change-feed.js';
import type { TrustDomains } from './trust-domains.js';

/** The authorities that sign now. */
export interface CaSigners {
  x509: CaAuthority;
  jwt: JwtAuthority;
}

/** The CA as the admin API shows it (no private key ever). Times ISO 8601. */
export interface CaView {
  trust_domain: string;
  authorities: Array<{ id: string; state: 'active' | 'retiring'; root_pem: string; intermediate_pem: string; not_after: string; retire_after?: string }>;
  jwt_authorities: Array<{ kid: string; state: 'active' | 'retiring'; retire_after?: string }>;
}

export interface CaService {
  /** The tenant's trust bundle: every root and JWT key not past its retire time (the CA is created on first use). */
  bundle(tenant: string): Promise<TrustBundle>;
  /** The authorities that sign now (the CA is created on first use). */
  signers(tenant: string): Promise<CaSigners>;
  /** A new root, intermediate and JWT key become active; the previous ones retire (see the module comment). */
  rotate(tenant: string): Promise<CaView>;
  view(tenant: string): Promise<CaView>;
  /** Forget what is cached for the tenant (a `workload` or `settings` change). */
  invalidate(tenant: string): void;
  invalidateAll(): void;
}

export interface CaServiceOptions {
  store: Store;
  box: SecretBox;
  trustDomains: TrustDomains;
  publish: PublishChange;
  now?: () => number;
  /** Lifetime of each root and intermediate, seconds (default 365 days). */
  caLifetimeSec?: number;
}

/** After the last SVID or JWT-SVID an authority signed has expired, it stays trusted this much longer (clock skew). */
export const RETIRE_GRACE_MS = 60_000;
/**
 * An active CA this close to its end (or within a quarter of its lifetime, when shorter) is
 * replaced at its next use: SVIDs it signs are cut at its end.
 */
export const ROTATE_BEFORE_END_MS = 30 * 24 * 3600 * 1000;
/** The bundle's `spiffe_refresh_hint`: PEPs also refetch on every `workload` change. */
export const BUNDLE_REFRESH_HINT_SEC = 300;
const DEFAULT_CA_LIFETIME_SEC = 365 * 24 * 3600;

interface TenantCa {
  trustDomain: string;
  x509: StoredCaAuthority[];
  jwt: StoredJwtAuthority[];
  bundle: TrustBundle;
  /** The earliest retire time of a retiring authority: past it the state is read (and pruned) again. */
  nextLapseMs: number;
  signers?: CaSigners;
}

const iso = (ms: number) => new Date(ms).toISOString();
// Bound to tenant and authority: a sealed key moved to another row does not open.
const x509Purpose = (tenant: string, id: string) => `workload-ca:${tenant}:${id}`;
const jwtPurpose = (tenant: string, kid: string) => `workload-jwt:${tenant}:${kid}`;

export function createCaService(options: CaServiceOptions): CaService {
  const { store, box, trustDomains, publish } = options;
  const now = options.now ?? Date.now;
  const lifetimeSec = options.caLifetimeSec ?? DEFAULT_CA_LIFETIME_SEC;
  if (!Number.isSafeInteger(lifetimeSec) || lifetimeSec < 3600) throw new TypeError('caLifetimeSec must be a whole number of seconds, at least 3600');
  const rotateBeforeEndMs = Math.min(ROTATE_BEFORE_END_MS, (lifetimeSec * 1000) / 4);
  const cache = new Map<string, Promise<TenantCa>>();

  /** New authorities for `trustDomain`, sealed for the store. */
  async function generate(tenant: string, trustDomain: string): Promise<{ x509: StoredCaAuthority; jwt: StoredJwtAuthority }> {
    const [ca, jwt] = await Promise.all([generateCaAuthority({ trustDomain, now, lifetimeSec }), generateJwtAuthority({ now })]);
    // The root's private key is not kept: it signed the intermediate, and a rotation makes a new root.
    return {
      x509: {
        tenant,
        id: ca.id,
        state: 'active',
        trustDomain,
        rootPem: ca.rootPem,
        intermediatePem: ca.intermediatePem,
        sealedKey: box.seal(JSON.stringify({ intermediateKeyPem: ca.intermediateKeyPem }), x509Purpose(tenant, ca.id)),
        notAfterMs: ca.notAfterMs,
        createdAtMs: ca.createdAtMs,
        retireAfterMs: null,
        issuedUntilMs: 0,
      },
      jwt: { tenant, kid: jwt.kid, state: 'active', publicJwk: jwt.publicJwk, sealedKey: box.seal(JSON.stringify(jwt.privateJwk), jwtPurpose(tenant, jwt.kid)), createdAtMs: jwt.createdAtMs, retireAfterMs: null, issuedUntilMs: 0 },
    };
  }

  const changed = (tenant: string) => publish({ tenant, kind: 'workload' });

  /**
   * Read the tenant's authorities, first putting them in order: create the CA when there is
   * none, replace an active one that is ageing or of another trust domain, drop lapsed ones.
   * Each fix is one transaction that another replica may have made first; the loop re-reads.
   */
  async function load(tenant: string): Promise<TenantCa> {
    const trustDomain = await trustDomains.of(tenant);
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 3) throw new VerityError('ERR_STORE_UNAVAILABLE', 'the workload CA could not be read in a settled state');
      const time = now();
      const { sequence, x509, jwt } = await store.workloads.authorities(tenant);
      const active = x509.find((a) => a.state === 'active');
      if (active === undefined) {
        if ((await store.workloads.createAuthorities(tenant, await generate(tenant, trustDomain))).installed) await changed(tenant);
        continue;
      }
      if (active.trustDomain !== trustDomain || active.notAfterMs - time < rotateBeforeEndMs) {
        const { rotated } = await store.workloads.rotateAuthorities(tenant, await generate(tenant, trustDomain), { nowMs: time, graceMs: RETIRE_GRACE_MS, replacing: active.id });
        if (rotated) await changed(tenant);
        continue;
      }
      const lapsed = (a: { state: string; retireAfterMs: number | null }) => a.state === 'retiring' && (a.retireAfterMs ?? 0) < time;
      if ([...x509, ...jwt].some(lapsed)) {
        if (await store.workloads.pruneAuthorities(tenant, time)) await changed(tenant);
        continue;
      }
      const retireTimes = [...x509, ...jwt].flatMap((a) => (a.retireAfterMs === null ? [] : [a.retireAfterMs]));
      return {
        trustDomain,
        x509,
        jwt,
        bundle: { trustDomain, x509Authorities: x509.map((a) => a.rootPem), jwtAuthorities: jwt.map((k) => k.publicJwk), sequence, refreshHintSec: BUNDLE_REFRESH_HINT_SEC },
        nextLapseMs: Math.min(Infinity, ...retireTimes),
      };
    }
  }

  async function state(tenant: string): Promise<TenantCa> {
    let entry = cache.get(tenant);
    if (entry !== undefined) {
      const found = await entry;
      if (now() <= found.nextLapseMs) return found;
      if (cache.get(tenant) === entry) cache.delete(tenant);
    }
    entry = cache.get(tenant);
    if (entry === undefined) {
      entry = load(tenant);
      cache.set(tenant, entry);
      entry.catch(() => {
        if (cache.get(tenant) === entry) cache.delete(tenant);
      });
    }
    return entry;
  }

  function unseal(tenant: string, found: TenantCa): CaSigners {
    const x509 = found.x509.find((a) => a.state === 'active');
    const jwt = found.jwt.find((k) => k.state === 'active');
    if (x509 === undefined || jwt === undefined) throw new VerityError('ERR_INTERNAL', 'the workload CA has no active authority');
    const { intermediateKeyPem } = JSON.parse(box.open(x509.sealedKey, x509Purpose(tenant, x509.id))) as { intermediateKeyPem: string };
    const privateJwk = JSON.parse(box.open(jwt.sealedKey, jwtPurpose(tenant, jwt.kid))) as Record<string, unknown>;
    return {
      x509: { id: x509.id, trustDomain: x509.trustDomain, rootPem: x509.rootPem, rootKeyPem: '', intermediatePem: x509.intermediatePem, intermediateKeyPem, notAfterMs: x509.notAfterMs, createdAtMs: x509.createdAtMs },
      jwt: { kid: jwt.kid, privateJwk, publicJwk: jwt.publicJwk, createdAtMs: jwt.createdAtMs },
    };
  }

  function toView(found: TenantCa): CaView {
    const retire = (ms: number | null) => (ms === null ? {} : { retire_after: iso(ms) });
    return {
      trust_domain: found.trustDomain,
      authorities: found.x509.map((a) => ({ id: a.id, state: a.state, root_pem: a.rootPem, intermediate_pem: a.intermediatePem, not_after: iso(a.notAfterMs), ...retire(a.retireAfterMs) })),
      jwt_authorities: found.jwt.map((k) => ({ kid: k.kid, state: k.state, ...retire(k.retireAfterMs) })),
    };
  }

  function invalidate(tenant: string): void {
    cache.delete(tenant);
  }

  return {
    bundle: async (tenant) => (await state(tenant)).bundle,
    async signers(tenant) {
      const found = await state(tenant);
      // Opened once per loaded state; the objects also key the workload package's signer cache.
      found.signers ??= unseal(tenant, found);
      return found.signers;
    },
    async rotate(tenant) {
      await state(tenant); // Creates the CA first when there is none: the rotation then retires it.
      await store.workloads.rotateAuthorities(tenant, await generate(tenant, await trustDomains.of(tenant)), { nowMs: now(), graceMs: RETIRE_GRACE_MS });
      invalidate(tenant);
      await changed(tenant);
      return toView(await state(tenant));
    },
    view: async (tenant) => toView(await state(tenant)),
    invalidate,
    invalidateAll: () => cache.clear(),
  };
}
