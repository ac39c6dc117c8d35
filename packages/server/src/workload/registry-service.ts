/**
 * Workload registrations, their one-time join tokens, and the deny list: a removed workload's
 * SPIFFE id is refused until every SVID issued to it has expired. The deny list is held in
 * memory for every tenant, so the decision path asks `isDenied` synchronously; this replica's
 * own removals apply at once, other replicas' when their `workload` change arrives.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { VerityError } from '@verity/core';
import type { DeniedWorkload, Store, StoredWorkload } from '@verity/store';
import type { PublishChange } from '../change-feed.js';
import { parseJoinTokenRequest, parseRegistration } from './registration-input.js';
import type { TrustDomains } from './trust-domains.js';

/** A registration as the admin API shows it. */
export interface WorkloadView {
  id: string;
  tenant: string;
  spiffe_id: string;
  selectors: string[];
  attestor: StoredWorkload['attestor'];
  x509_ttl_sec: number;
  jwt_ttl_sec: number;
  created_at: string;
}

/** A denied SPIFFE id and until when (epoch ms). */
export interface DeniedEntry {
  spiffeId: string;
  untilMs: number;
}

export interface RegistryService {
  /** Register from an API body. ERR_WORKLOAD_INVALID (also: not in the tenant's trust domain), ERR_SPIFFE_ID_INVALID, ERR_WORKLOAD_EXISTS. */
  register(tenant: string, body: unknown): Promise<WorkloadView>;
  list(tenant: string): Promise<WorkloadView[]>;
  /** ERR_WORKLOAD_NOT_FOUND when absent. */
  get(tenant: string, id: string): Promise<StoredWorkload>;
  /** The registration of a SPIFFE id, or null. */
  find(tenant: string, spiffeId: string): Promise<StoredWorkload | null>;
  /** Remove and deny its SPIFFE id until its SVIDs have expired (published). ERR_WORKLOAD_NOT_FOUND. */
  remove(tenant: string, id: string): Promise<DeniedEntry>;
  /** A one-time join token for a `join_token` registration (shown once; only its sha256 is kept). */
  createJoinToken(tenant: string, id: string, body: unknown): Promise<{ token: string; expiresAtMs: number }>;
  /** Whether the SPIFFE id is denied in the tenant right now. Synchronous: it reads memory only. */
  isDenied(tenant: string, spiffeId: string): boolean;
  /** The tenant's denied SPIFFE ids right now, from memory. */
  denied(tenant: string): DeniedEntry[];
  /** Read every tenant's deny list (at start, and after a resync). */
  reloadAll(): Promise<void>;
  /** Read one tenant's deny list again (its `workload` change arrived). */
  reload(tenant: string): Promise<void>;
}

export interface RegistryServiceOptions {
  store: Store;
  trustDomains: TrustDomains;
  publish: PublishChange;
  now?: () => number;
}

const JOIN_TOKEN_PREFIX = 'vjt_';

/** The sha256 (hex) of a join token: all that is stored. Tokens carry 256 random bits. */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether `value` has the shape of a join token (checked before any lookup). */
export function isJoinToken(value: unknown): value is string {
  return typeof value === 'string' && value.length === JOIN_TOKEN_PREFIX.length + 43 && value.startsWith(JOIN_TOKEN_PREFIX) && /^[A-Za-z0-9_-]+$/.test(value.slice(JOIN_TOKEN_PREFIX.length));
}

/** A registration as the admin API shows it. */
export function toWorkloadView(w: StoredWorkload): WorkloadView {
  return { id: w.id, tenant: w.tenant, spiffe_id: w.spiffeId, selectors: w.selectors, attestor: w.attestor, x509_ttl_sec: w.x509TtlSec, jwt_ttl_sec: w.jwtTtlSec, created_at: w.createdAt };
}

export function createRegistryService(options: RegistryServiceOptions): RegistryService {
  const { store, trustDomains, publish } = options;
  const now = options.now ?? Date.now;
  /** tenant → SPIFFE id → denied until (ms). */
  const deny = new Map<string, Map<string, number>>();
  /** Reloads in flight; `again` asks for one more read once the current one ends. */
  const reloading = new Map<string, { again: boolean; done: Promise<void> }>();

  function put(entries: readonly DeniedWorkload[], tenant?: string): void {
    if (tenant !== undefined) deny.delete(tenant);
    for (const entry of entries) {
      let ids = deny.get(entry.tenant);
      if (ids === undefined) deny.set(entry.tenant, (ids = new Map()));
      ids.set(entry.spiffeId, Math.max(entry.untilMs, ids.get(entry.spiffeId) ?? 0));
    }
  }

  function reload(tenant: string): Promise<void> {
    const running = reloading.get(tenant);
    if (running !== undefined) {
      // A read already under way may have begun before this change committed: read once more.
      running.again = true;
      return running.done;
    }
    const state = { again: false, done: Promise.resolve() };
    state.done = (async () => {
      try {
        do {
          state.again = false;
          put(await store.workloads.listDenied(tenant, now()), tenant);
        } while (state.again);
      } finally {
        reloading.delete(tenant);
      }
    })();
    reloading.set(tenant, state);
    return state.done;
  }

  async function get(tenant: string, id: string): Promise<StoredWorkload> {
    const found = await store.workloads.getRegistration(tenant, id);
    if (found === null) throw new VerityError('ERR_WORKLOAD_NOT_FOUND', 'no such workload registration');
    return found;
  }

  return {
    async register(tenant, body) {
      const input = parseRegistration(body);
      const trustDomain = await trustDomains.of(tenant);
      if (input.trustDomain !== trustDomain) throw new VerityError('ERR_WORKLOAD_INVALID', `the SPIFFE id must be in the tenant's trust domain "${trustDomain}"`);
      const created = await store.workloads.createRegistration(
        { tenant, id: randomUUID(), spiffeId: input.spiffeId, selectors: input.selectors, attestor: input.attestor, x509TtlSec: input.x509TtlSec, jwtTtlSec: input.jwtTtlSec },
        now(),
      );
      await publish({ tenant, kind: 'workload' });
      return toWorkloadView(created);
    },

    list: async (tenant) => (await store.workloads.listRegistrations(tenant)).map(toWorkloadView),
    get,
    find: (tenant, spiffeId) => store.workloads.findRegistration(tenant, spiffeId),

    async remove(tenant, id) {
      const removed = await store.workloads.removeRegistration(tenant, id, now());
      if (removed === null) throw new VerityError('ERR_WORKLOAD_NOT_FOUND', 'no such workload registration');
      // Here at once; every replica (this one included) also reads the list again on the change.
      put([removed]);
      await publish({ tenant, kind: 'workload' });
      return { spiffeId: removed.spiffeId, untilMs: removed.untilMs };
    },

    async createJoinToken(tenant, id, body) {
      const ttlSec = parseJoinTokenRequest(body);
      const registration = await get(tenant, id);
      if (registration.attestor !== 'join_token') throw new VerityError('ERR_WORKLOAD_INVALID', `this workload attests with ${registration.attestor}, not a join token`);
      const token = JOIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const createdAtMs = now();
      const expiresAtMs = createdAtMs + ttlSec * 1000;
      await store.workloads.createJoinToken({ tenant, registrationId: id, tokenHash: hashJoinToken(token), createdAtMs, expiresAtMs });
      return { token, expiresAtMs };
    },

    isDenied(tenant, spiffeId) {
      const until = deny.get(tenant)?.get(spiffeId);
      return until !== undefined && until > now();
    },

    denied(tenant) {
      const time = now();
      return [...(deny.get(tenant) ?? [])].filter(([, untilMs]) => untilMs > time).map(([spiffeId, untilMs]) => ({ spiffeId, untilMs }));
    },

    async reloadAll() {
      const entries = await store.workloads.listDenied(null, now());
      deny.clear();
      put(entries);
    },
    reload,
  };
}
